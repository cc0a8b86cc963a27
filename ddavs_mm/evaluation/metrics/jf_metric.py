"""J and F of the official AVS benchmarks as an mmengine metric."""
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement
from prettytable import PrettyTable
from torch import Tensor

from ddavs_mm.registry import METRICS
from ..functional import (OFFICIAL_EVAL_SIZES, avsbench_frame_stats,
                          avsbench_fscore_from_stats,
                          avsbench_jaccard_from_stats, avss_reduce,
                          grouped_mean, resize_for_eval, semantic_frame_stats,
                          vpo_reduce)

_MODES = ('avsbench', 'avss', 'vpo')
#: keys of ``compute_metrics`` per mode (without per-class keys)
_METRIC_NAMES = dict(
    avsbench=('J', 'F', 'J&F', 'J_batch_independent', 'F_batch_independent',
              'J&F_batch_independent'),
    avss=('J', 'F', 'J&F', 'mIoU'),
    vpo=('J', 'F', 'J&F', 'mIoU'))
_AVSBENCH_KEYS = ('inter', 'union', 'tp', 'pred_count', 'gt_count')


def _field(sample: dict, name: str, where: str) -> Any:
    """Read a field of a data sample dict (``to_dict`` of a data element)."""
    for key in (name, '_' + name):
        if key in sample:
            value = sample[key]
            break
    else:
        raise KeyError(f'{where}: data sample has no field {name!r} '
                       f'(fields: {sorted(sample)})')
    if isinstance(value, BaseDataElement):  # e.g. PixelData
        value = value.data
    elif isinstance(value, dict) and 'data' in value:
        value = value['data']
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value)
    return value


@METRICS.register_module()
class JFMetric(BaseMetric):
    """Jaccard (J) and F-measure (F) of the official AVS protocols.

    Three modes, one per benchmark family; the formulas live in
    :mod:`ddavs_mm.evaluation.functional`:

    * ``'avsbench'`` (AVSBench-object S4 and MS3): follows
      ``avs_scripts/avs_s4/utils/utility.py`` (``mask_iou``,
      ``Eval_Fmeasure``) and the test loop of ``avs_scripts/avs_s4/test.py``
      of OpenNLPLab/AVSBench. J: per-frame IoU of ``sigmoid > 0.5`` (an
      empty-ground-truth frame scores its true-negative fraction), averaged
      per group of ``group_size`` consecutive frames and then over groups
      (the official per-batch averaging; equal to the frame mean when the
      last group is full). F: max over 255 thresholds of the F_beta
      (beta^2 = 0.3) curve averaged over the non-empty frames of each group,
      then averaged over groups (an all-empty group scores 0). The official
      test batch is 4 clips x 5 frames, hence ``group_size=20``. Reports
      ``J``, ``F``, ``J&F`` (official grouping) and ``J_batch_independent``,
      ``F_batch_independent``, ``J&F_batch_independent`` (all frames in one
      group).
    * ``'avss'`` (AVSBench-semantic): follows
      ``avs_scripts/avss/utils/compute_color_metrics.py``
      (``_batch_miou_fscore``) and the aggregation of
      ``avs_scripts/avss/test.py``: per-frame per-class IoU and F_beta(0.3)
      at the argmax, counted only in frames where the class appears in the
      prediction or ground truth, summed over the data set, divided by the
      counts, averaged over all classes incl. background (never-seen classes
      count 0). Padded frames of v1s/v1m clips count, as in the official
      loop: they arrive with ``mask_flags`` True. Reports ``J`` (= ``mIoU``),
      ``F``, ``J&F``, ``mIoU``.
    * ``'vpo'`` (VPO-SS/MS/MSMI): follows ``utils/eval_utils.py`` of
      cyh-0/CAVP (``MIoU``, ``ForegroundDetect``): intersection and union
      summed per class over the data set (``ignore_index`` ignored), mIoU
      over all classes incl. background; F_beta(0.3) per class from the
      pooled pixel confusion matrix, ``nanmean`` over classes. Reports
      ``J`` (= ``mIoU``), ``F``, ``J&F``, ``mIoU``.

    Each mode scores at the resolution of its official loader
    (``eval_size='official'``, see
    :data:`~ddavs_mm.evaluation.functional.OFFICIAL_EVAL_SIZES`): the
    masks' own size for ``'avsbench'`` and ``'vpo'``, 224 x 224 for
    ``'avss'``. Predictions of any size (e.g. restored to the frames'
    original size) and labels of any size are brought there by
    :func:`~ddavs_mm.evaluation.functional.resize_for_eval` (logits
    bilinear, labels nearest).

    All values are in percent, like the paper's tables. In semantic modes a
    per-class table is printed with mmengine's logger, and per-class values
    are returned as ``IoU.<class>`` / ``F.<class>`` when
    ``return_per_class`` is True.

    :meth:`process` keeps only per-frame sufficient statistics (integer
    pixel counts) of frames whose ``mask_flags`` is True, one result per
    clip tagged with its ``sample_idx``; :meth:`compute_metrics` orders the
    frames by ``(sample_idx, frame index)`` before reducing, so the official
    grouping is the same whatever the number of processes.

    Args:
        mode (str): ``'avsbench'``, ``'avss'`` or ``'vpo'``.
        group_size (int, optional): frames per official evaluation batch in
            ``'avsbench'`` mode. Defaults to 20.
        num_classes (int, optional): classes incl. background (semantic
            modes); defaults to ``len(dataset_meta['classes'])``.
        ignore_index (int): label ignored in the ground truth. Defaults to
            255.
        return_per_class (bool): also return per-class values (semantic
            modes). Defaults to False.
        eval_size (str | tuple[int, int] | None): ``(H, W)`` to score at,
            None for the ground truth's own size, or ``'official'`` (the
            default) for the mode's official protocol.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): prefix of the metric names.
        collect_dir (str, optional): directory for CPU collection.
    """
    default_prefix: Optional[str] = None

    def __init__(self,
                 mode: str = 'avsbench',
                 group_size: Optional[int] = 20,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
                 return_per_class: bool = False,
                 eval_size: Union[str, Tuple[int, int], None] = 'official',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        if mode not in _MODES:
            raise ValueError(f'JFMetric mode must be one of {_MODES}, got '
                             f'{mode!r}')
        if group_size is not None and (not isinstance(group_size, int)
                                       or group_size < 1):
            raise ValueError('group_size must be a positive int or None, got '
                             f'{group_size!r}')
        if num_classes is not None and (not isinstance(num_classes, int)
                                        or num_classes < 2):
            raise ValueError('num_classes must be an int >= 2, got '
                             f'{num_classes!r}')
        if eval_size == 'official':
            eval_size = OFFICIAL_EVAL_SIZES[mode]
        elif eval_size is not None and (
                isinstance(eval_size, str) or len(eval_size) != 2
                or not all(isinstance(v, int) and v > 0 for v in eval_size)):
            raise ValueError("eval_size must be 'official', None or (H, W) "
                             f'positive ints, got {eval_size!r}')
        self.eval_size = None if eval_size is None else tuple(eval_size)
        self.mode = mode
        self.group_size = group_size
        self._num_classes = num_classes
        self.ignore_index = ignore_index
        self.return_per_class = return_per_class

    # ------------------------------------------------------------------
    @property
    def num_classes(self) -> Optional[int]:
        """Classes incl. background (argument, else ``dataset_meta``)."""
        if self._num_classes is not None:
            return self._num_classes
        meta = self.dataset_meta or {}
        classes = meta.get('classes')
        return len(classes) if classes else None

    @property
    def metric_names(self) -> tuple:
        """Keys of :meth:`compute_metrics` in this mode, in order (before
        the evaluator's prefix; without the per-class keys)."""
        return _METRIC_NAMES[self.mode]

    def _class_names(self, num_classes: int) -> List[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if classes and len(classes) == num_classes:
            return [str(c) for c in classes]
        return [f'class_{i}' for i in range(num_classes)]

    # ------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        """Keep the per-frame statistics of the annotated frames.

        Args:
            data_batch: unused.
            data_samples (Sequence[dict | BaseDataElement]): one per clip,
                with ``pred_logits`` [T, 1 or C, h, w], ``gt_masks``
                [T, H, W] (sizes may differ), ``mask_flags`` [T] and
                metainfo ``sample_idx``.
        """
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            if 'sample_idx' not in sample:
                raise KeyError('JFMetric: data sample has no metainfo '
                               "'sample_idx' (needed to order frames)")
            sample_idx = int(sample['sample_idx'])
            where = (f'JFMetric (sample_idx={sample_idx}, '
                     f"clip_id={sample.get('clip_id', '?')})")
            logits = _field(sample, 'pred_logits', where)
            gts = _field(sample, 'gt_masks', where)
            flags = _field(sample, 'mask_flags', where).bool()
            self.results.append(
                self._process_one(logits, gts, flags, sample_idx, where))

    def _process_one(self, logits: Tensor, gts: Tensor, flags: Tensor,
                     sample_idx: int, where: str) -> Dict[str, Any]:
        if logits.dim() != 4:
            raise ValueError(f'{where}: pred_logits must be [T, C, H, W], got '
                             f'{tuple(logits.shape)}')
        t = logits.shape[0]
        if gts.dim() != 3 or gts.shape[0] != t or flags.shape != (t, ):
            raise ValueError(
                f'{where}: gt_masks {tuple(gts.shape)} / mask_flags '
                f'{tuple(flags.shape)} do not match pred_logits '
                f'{tuple(logits.shape)} (expected [T, H, W] and [T])')
        frames = torch.nonzero(flags.cpu()).flatten()
        idx = frames.to(logits.device)
        logits, gts = resize_for_eval(logits[idx],
                                      gts.to(logits.device)[idx],
                                      self.eval_size)
        try:
            if self.mode == 'avsbench':
                if logits.shape[1] != 1:
                    raise ValueError('avsbench mode expects binary '
                                     'pred_logits [T, 1, H, W], got '
                                     f'{tuple(logits.shape)}')
                stats = avsbench_frame_stats(logits[:, 0], gts,
                                             self.ignore_index)
                stats = {k: v.cpu() for k, v in stats.items()}
            else:
                num_classes = self.num_classes
                if num_classes is None:
                    raise ValueError(
                        f'{self.mode} mode needs num_classes (argument or '
                        "dataset_meta['classes'])")
                stats = semantic_frame_stats(logits, gts, num_classes,
                                             self.ignore_index).cpu()
        except (ValueError, TypeError) as err:
            raise type(err)(f'{where}: {err}') from err
        return dict(sample_idx=sample_idx, frames=frames, stats=stats)

    # ------------------------------------------------------------------
    def _ordered(self, results: list) -> list:
        """Deduplicate by ``sample_idx`` and sort."""
        by_idx: Dict[int, dict] = {}
        duplicates = 0
        for res in results:
            if res['sample_idx'] in by_idx:
                duplicates += 1
                continue
            by_idx[res['sample_idx']] = res
        if duplicates:
            warnings.warn(f'JFMetric: {duplicates} results repeat a '
                          'sample_idx already seen; each clip is counted '
                          'once')
        ordered = []
        for key in sorted(by_idx):
            res = by_idx[key]
            frames = res['frames']
            if frames.numel() > 1 and not bool(
                    (frames[1:] > frames[:-1]).all()):
                order = torch.argsort(frames)
                stats = res['stats']
                stats = ({k: v[order]
                          for k, v in stats.items()} if isinstance(
                              stats, dict) else stats[order])
                res = dict(res, frames=frames[order], stats=stats)
            ordered.append(res)
        return ordered

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Reduce the collected statistics; values in percent.

        Args:
            results (list): the outputs of :meth:`process` from all ranks.

        Returns:
            dict[str, float]: see the class docstring.
        """
        ordered = self._ordered(results)
        num_frames = sum(int(r['frames'].numel()) for r in ordered)
        if num_frames == 0:
            raise ValueError('JFMetric: no annotated frame (mask_flags True) '
                             f'in {len(ordered)} evaluated clips')
        if self.mode == 'avsbench':
            return self._compute_avsbench(ordered, num_frames)
        return self._compute_semantic(ordered, num_frames)

    def _compute_avsbench(self, ordered: list,
                          num_frames: int) -> Dict[str, float]:
        stats = {
            k: torch.cat([r['stats'][k] for r in ordered])
            for k in _AVSBENCH_KEYS
        }
        jac = avsbench_jaccard_from_stats(stats['inter'], stats['union'])
        f_args = (stats['tp'], stats['pred_count'], stats['gt_count'])
        j_off = grouped_mean(jac, self.group_size).item() * 100
        j_bi = jac.mean().item() * 100
        f_off = avsbench_fscore_from_stats(
            *f_args, group_size=self.group_size).item() * 100
        f_bi = avsbench_fscore_from_stats(
            *f_args, group_size=None).item() * 100
        print_log(
            f'JFMetric (avsbench, {len(ordered)} clips, {num_frames} frames, '
            f'group_size={self.group_size}): J {j_off:.2f}  F {f_off:.2f}  '
            f'J&F {(j_off + f_off) / 2:.2f} | batch-independent: '
            f'J {j_bi:.2f}  F {f_bi:.2f}',
            logger='current')
        return {
            'J': j_off,
            'F': f_off,
            'J&F': (j_off + f_off) / 2,
            'J_batch_independent': j_bi,
            'F_batch_independent': f_bi,
            'J&F_batch_independent': (j_bi + f_bi) / 2,
        }

    def _compute_semantic(self, ordered: list,
                          num_frames: int) -> Dict[str, float]:
        stats = torch.cat([r['stats'] for r in ordered])
        reducer = avss_reduce if self.mode == 'avss' else vpo_reduce
        out = reducer(stats)
        num_classes = stats.shape[-1]
        names = self._class_names(num_classes)
        iou = (out['IoU'] * 100).tolist()
        fsc = (out['Fscore'] * 100).tolist()
        table = PrettyTable()
        table.add_column('Class', names)
        table.add_column('IoU', [round(i, 2) for i in iou])
        table.add_column('F', [round(f, 2) for f in fsc])
        miou = out['mIoU'].item() * 100
        fmean = out['F'].item() * 100
        print_log(
            f'JFMetric ({self.mode}, {len(ordered)} clips, {num_frames} '
            'frames) per class results:', logger='current')
        print_log('\n' + table.get_string(), logger='current')
        print_log(
            f'mIoU (J) {miou:.2f}  F {fmean:.2f}  '
            f'J&F {(miou + fmean) / 2:.2f}',
            logger='current')
        metrics = {
            'J': miou,
            'F': fmean,
            'J&F': (miou + fmean) / 2,
            'mIoU': miou,
        }
        if self.return_per_class:
            for n, i, f in zip(names, iou, fsc):
                metrics[f'IoU.{n}'] = i
                metrics[f'F.{n}'] = f
        return metrics
