"""Test-time augmentation of a DDAVS segmentor (mmseg's ``SegTTAModel``)."""
import math
from typing import List

import torch
import torch.nn.functional as F
from mmengine.model import BaseTTAModel
from mmengine.structures import BaseDataElement

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class DDAVSTTAModel(BaseTTAModel):
    """Merge a clip's predictions under several test-time augmentations.

    :class:`mmengine.model.BaseTTAModel` runs the wrapped segmentor's
    ``test_step`` once per augmentation (``tta_pipeline``'s
    ``TestTimeAug`` branches); each prediction is already restored to the
    clip's original orientation and size by
    :meth:`DDAVS.postprocess_result`. The merged prediction is the mean of
    the augmentations' probabilities (sigmoid in binary mode, softmax in
    semantic mode), stored back as logits so that the metric and the
    outputs read it like a plain prediction: ``pred_logits`` is
    ``logit(p_mean)`` (binary) or ``log(p_mean)`` (semantic; its softmax is
    ``p_mean``), ``pred_masks`` is ``p_mean > 0.5`` or its argmax.

    Args:
        module (dict | nn.Module): the segmentor (``cfg.model``).
        data_preprocessor (dict | nn.Module, optional): see
            :class:`mmengine.model.BaseTTAModel`.
    """

    def merge_preds(self, data_samples_list: List[List[BaseDataElement]]
                    ) -> List[BaseDataElement]:
        """Merge the predictions of each clip's augmentations.

        Args:
            data_samples_list (list[list]): per clip, its data samples
                (one per augmentation) with ``pred_logits [T, K, H, W]``.

        Returns:
            list: per clip, the first augmentation's data sample holding
            the merged ``pred_logits`` and ``pred_masks``.
        """
        merged = []
        for samples in data_samples_list:
            shapes = {tuple(s.pred_logits.shape) for s in samples}
            if len(shapes) > 1:
                raise ValueError(f'augmentations of clip '
                                 f'{samples[0].metainfo.get("clip_id", "?")}'
                                 f' give predictions of shapes {shapes}')
            logits = torch.stack([s.pred_logits for s in samples])
            log_n = math.log(len(samples))
            if logits.shape[2] == 1:
                # logit(mean sigmoid): log-mean-exp of log-probabilities of
                # both outcomes (exact, no overflow for large logits)
                mean_logits = torch.logsumexp(F.logsigmoid(logits), 0) - \
                    torch.logsumexp(F.logsigmoid(-logits), 0)
                masks = (mean_logits[:, 0] > 0).long()
            else:
                mean_logits = torch.logsumexp(logits.log_softmax(dim=2),
                                              dim=0) - log_n
                masks = mean_logits.argmax(dim=1)
            out = samples[0]
            out.set_data(dict(pred_logits=mean_logits, pred_masks=masks))
            merged.append(out)
        return merged
