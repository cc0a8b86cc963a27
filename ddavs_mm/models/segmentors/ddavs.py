"""DDAVS segmentor: audio encoder → AQM (→ COM in training) → visual encoder
with delayed AVAM → mask decoder (Sec. 3, Eqs. 1-3, 9).

The AVAM is :class:`~ddavs_mm.models.heads.StageAlignment`, owned here: it
acts inside the visual encoder, which then runs stage by stage
(:class:`~ddavs_mm.models.backbones.StageWiseBackbone`), or at the decode
head's input. The decode head only decodes.

Frames are flattened to ``N = B * T``. Each frame has its own 1-second audio
segment ``[N, S]`` → audio tokens ``[N, L, D]`` → queries ``[N, n, d]``
(``audio_query=None``: the audio tokens themselves serve as the queries,
which is how the "baseline" and "+AVAM" rows of Table 3 run without AQM).
"""
import logging
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Union

import mmseg.models  # noqa: F401  (registers MixVisionTransformer etc.)
import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmseg.models.backbones import MixVisionTransformer

from ddavs_mm.registry import MODELS
from ..backbones import StageWiseBackbone
from ..utils import resize_bilinear

ForwardResults = Union[Dict[str, torch.Tensor], List[BaseDataElement],
                       torch.Tensor]


#: Checkpoints written before :class:`StageAlignment` existed hold its
#: tensors under the decode head; they load under ``alignment.``.
_PRE_ALIGNMENT_KEYS = (('decode_head.blocks.', 'alignment.blocks.'),
                       ('decode_head.baseline_proj.',
                        'alignment.baseline_proj.'))


def _rename_pre_alignment_keys(module: nn.Module, state_dict: dict,
                               prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: rename the keys of the older layout
    (:data:`_PRE_ALIGNMENT_KEYS`) in place. A key of the older layout never
    names a tensor of the current one, so the rule is unambiguous."""
    renamed = 0
    for old, new in _PRE_ALIGNMENT_KEYS:
        old, new = prefix + old, prefix + new
        for key in [k for k in state_dict if k.startswith(old)]:
            target = new + key[len(old):]
            if target in state_dict:
                raise ValueError(f'the state dict holds both {key} (layout '
                                 f'before StageAlignment) and {target}')
            state_dict[target] = state_dict.pop(key)
            renamed += 1
    if renamed:
        print_log(
            f'{type(module).__name__}: {renamed} tensor(s) of the layout '
            'before StageAlignment loaded under their new names '
            '(decode_head.blocks.* -> alignment.blocks.*, '
            'decode_head.baseline_proj.* -> alignment.baseline_proj.*)',
            logger='current', level=logging.INFO)


@MODELS.register_module()
class DDAVS(BaseModel):
    """Disentangled audio semantics + delayed bidirectional alignment.

    Args:
        backbone (dict): visual encoder returning the pyramid levels;
            ``FreezableMixVisionTransformer`` in the configs. With
            ``alignment.fusion_position='encoder'`` it must be a
            :class:`~ddavs_mm.models.backbones.StageWiseBackbone` (a
            ``forward_stagewise(x, hook, position)`` method and the
            ``hook_positions`` it supports); any backbone works with
            ``'head'``.
        decode_head (dict): :class:`~ddavs_mm.models.heads.DelayedAVAMDecoder`
            config: ``forward(feats, queries) -> logits``.
        audio_encoder (dict): audio encoder config (``forward(wave [N, S])
            -> tokens [N, L, D]``, attribute ``out_channels``).
        alignment (dict): :class:`~ddavs_mm.models.heads.StageAlignment`
            config: the alignment blocks (or the baseline fusion) and where
            they act. Its ``in_channels`` defaults to
            ``decode_head.in_channels`` (the backbone's level widths).
        audio_query (dict, optional): :class:`AudioQueryModule` config; None
            → queries are the raw audio tokens.
        contrastive_head (dict, optional): :class:`ContrastiveHead` config;
            used in 'loss' mode when the inputs carry ``audio_aug``.
        refiner (dict, optional): :class:`ImageGuidedRefiner` config (our
            addition, not in the paper): sharpens the decoder's 1/4 logits
            with the frame at a finer stride. None (default) → the logits
            stay at 1/4.
        losses (list[dict]): segmentation losses; each is called as
            ``loss(logits [M, K, H, W], target [M, H, W])`` and named by its
            ``loss_name``. Defaults: CE 5, Dice 5, IoU 2.
        mask_mode (str): 'binary' (1 logit map, sigmoid) or 'semantic'
            (``num_classes`` maps, softmax).
        num_classes (int): classes incl. background in semantic mode; must
            equal the decoder's output maps (1 in binary mode).
        ignore_index (int): Defaults to 255.
        align_corners (bool): for upsampling logits. Defaults to False.
        data_preprocessor (dict, optional): e.g. ``AVSDataPreprocessor``.
        train_cfg, test_cfg (dict, optional): kept for OpenMMLab symmetry.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 audio_encoder: dict,
                 alignment: dict,
                 audio_query: Optional[dict] = None,
                 contrastive_head: Optional[dict] = None,
                 refiner: Optional[dict] = None,
                 losses: Optional[List[dict]] = None,
                 mask_mode: str = 'binary',
                 num_classes: int = 1,
                 ignore_index: int = 255,
                 align_corners: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if mask_mode not in ('binary', 'semantic'):
            raise ValueError(f'mask_mode must be "binary" or "semantic", got '
                             f'{mask_mode!r}')
        if mask_mode == 'binary' and num_classes != 1:
            raise ValueError('mask_mode="binary" needs num_classes=1, got '
                             f'{num_classes}')
        if mask_mode == 'semantic' and num_classes < 2:
            raise ValueError('mask_mode="semantic" needs num_classes >= 2, '
                             f'got {num_classes}')
        self.mask_mode = mask_mode
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.align_corners = align_corners
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

        self.audio_encoder = MODELS.build(audio_encoder)
        audio_dims = getattr(self.audio_encoder, 'out_channels', None)
        self.audio_query = MODELS.build(audio_query) \
            if audio_query is not None else None
        if self.audio_query is not None:
            if audio_dims is not None and \
                    self.audio_query.in_channels != audio_dims:
                raise ValueError(
                    f'audio_query.in_channels={self.audio_query.in_channels} '
                    f'but the audio encoder gives {audio_dims}-d tokens')
            query_dims = self.audio_query.embed_dims
        else:
            query_dims = audio_dims
        self.contrastive_head = MODELS.build(contrastive_head) \
            if contrastive_head is not None else None
        if self.contrastive_head is not None and query_dims is not None and \
                self.contrastive_head.in_channels != query_dims:
            raise ValueError(
                f'contrastive_head.in_channels='
                f'{self.contrastive_head.in_channels} but queries are '
                f'{query_dims}-d')

        self.backbone = MODELS.build(backbone)
        # built before the decode head: the order of the random
        # initialisation is that of the layout before StageAlignment
        alignment = dict(alignment)
        if 'in_channels' not in alignment and 'in_channels' in decode_head:
            alignment['in_channels'] = decode_head['in_channels']
        self.alignment = MODELS.build(alignment)
        self.decode_head = MODELS.build(decode_head)
        for name, module in (('alignment', self.alignment),
                             ('decode_head', self.decode_head)):
            channels = getattr(module, 'query_channels', None)
            if query_dims is not None and channels is not None and \
                    channels != query_dims:
                raise ValueError(f'{name}.query_channels={channels} but '
                                 f'queries are {query_dims}-d')
        if list(self.alignment.in_channels) != \
                list(self.decode_head.in_channels):
            raise ValueError(
                f'alignment.in_channels={list(self.alignment.in_channels)} '
                'but decode_head.in_channels='
                f'{list(self.decode_head.in_channels)}: both are the '
                "backbone's level widths")
        if self.decode_head.num_classes != num_classes:
            raise ValueError(
                f'decode_head outputs {self.decode_head.num_classes} maps but '
                f'num_classes={num_classes}')
        self.refiner = MODELS.build(refiner) if refiner is not None else None
        if self.refiner is not None and \
                self.refiner.num_classes != num_classes:
            raise ValueError(
                f'refiner.num_classes={self.refiner.num_classes} but '
                f'num_classes={num_classes}')
        if self.alignment.acts_in_encoder:
            self._check_stage_wise_backbone()
        self.register_load_state_dict_pre_hook(_rename_pre_alignment_keys)
        if losses is None:
            losses = [
                dict(type='AVSCrossEntropyLoss', loss_weight=5.0),
                dict(type='AVSDiceLoss', loss_weight=5.0),
                dict(type='AVSIoULoss', loss_weight=2.0)
            ]
        self.losses = nn.ModuleList([MODELS.build(cfg) for cfg in losses])
        for loss in self.losses:
            if hasattr(loss, 'ignore_index'):
                loss.ignore_index = ignore_index

    def _check_stage_wise_backbone(self) -> None:
        """``alignment.fusion_position='encoder'`` needs a backbone that runs
        stage by stage at ``alignment.encoder_position``."""
        name = type(self.backbone).__name__
        if not isinstance(self.backbone, StageWiseBackbone):
            hint = ''
            if isinstance(self.backbone, MixVisionTransformer):
                hint = (" (type='FreezableMixVisionTransformer' is mmseg's "
                        'MiT with a stage-wise forward, same weights)')
            raise ValueError(
                f'alignment.fusion_position="encoder" runs the backbone stage'
                f' by stage, but {name} cannot be run stage by stage: it has '
                'no forward_stagewise(x, hook, position) / hook_positions '
                '(StageWiseBackbone, ddavs_mm/models/backbones/'
                f'stage_wise_backbone.py){hint}; use alignment.'
                'fusion_position="head" to align at the decode head input')
        position = self.alignment.encoder_position
        if position not in self.backbone.hook_positions:
            raise ValueError(
                f'alignment.encoder_position="{position}" but {name} runs '
                f'hooks only at {tuple(self.backbone.hook_positions)}')

    # ------------------------------------------------------------------ audio
    @property
    def with_contrastive(self) -> bool:
        return self.contrastive_head is not None

    def encode_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """``[N, S]`` waveforms → tokens ``[N, L, D]`` (no autograd graph
        when the encoder has no trainable parameter)."""
        if not any(p.requires_grad for p in self.audio_encoder.parameters()):
            with torch.no_grad():
                return self.audio_encoder(audio)
        return self.audio_encoder(audio)

    def extract_queries(self, audio: torch.Tensor) -> torch.Tensor:
        """``[N, S]`` → audio queries ``[N, n, d]`` (Eq. 1)."""
        tokens = self.encode_audio(audio)
        if tokens.dim() != 3:
            raise ValueError('audio encoder must return tokens [N, L, D], got '
                             f'{tuple(tokens.shape)}')
        if self.audio_query is None:
            return tokens
        return self.audio_query(tokens)

    # ----------------------------------------------------------------- visual
    def extract_feats(self, frames: torch.Tensor,
                      queries: torch.Tensor) -> List[torch.Tensor]:
        """The pyramid the decode head reads, aligned with the audio where
        ``alignment`` acts (Eqs. 2-3): inside the encoder, run stage by
        stage, and/or at the decode head's input.

        Args:
            frames (Tensor): ``[N, 3, H, W]``.
            queries (Tensor): ``[N, n, d]``.

        Returns:
            list[Tensor]: levels ``[N, C_i, H_i, W_i]``.
        """
        alignment = self.alignment
        if alignment.acts_in_encoder:

            def hook(stage_idx: int, feat: torch.Tensor) -> torch.Tensor:
                return alignment.forward_stage(stage_idx, feat, queries)

            feats = self.backbone.forward_stagewise(
                frames, hook, position=alignment.encoder_position)
        else:
            feats = self.backbone(frames)
        return alignment(feats, queries)

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _flatten_inputs(inputs: dict):
        if not isinstance(inputs, dict) or 'frames' not in inputs or \
                'audio' not in inputs:
            raise ValueError('DDAVS expects inputs={"frames": [B,T,3,H,W], '
                             '"audio": [B,T,S], ...}, got '
                             f'{type(inputs).__name__}')
        frames, audio = inputs['frames'], inputs['audio']
        if frames.dim() != 5 or audio.dim() != 3 or \
                frames.shape[:2] != audio.shape[:2]:
            raise ValueError(
                f'frames {tuple(frames.shape)} must be [B,T,3,H,W] and audio '
                f'{tuple(audio.shape)} [B,T,S] with the same B, T')
        b, t = frames.shape[:2]
        return frames.flatten(0, 1), audio.flatten(0, 1), b, t

    def _decode(self, frames: torch.Tensor,
                queries: torch.Tensor) -> torch.Tensor:
        feats = self.extract_feats(frames, queries)
        logits = self.decode_head(feats, queries)
        if self.refiner is not None:
            logits = self.refiner(logits, frames)
        return logits

    def _resize(self, logits: torch.Tensor, size) -> torch.Tensor:
        # F.interpolate's values, by matrix products (a faster backward)
        return resize_bilinear(logits, size, self.align_corners)

    @staticmethod
    def _stack_field(data_samples, name: str, t: int,
                     device) -> Optional[torch.Tensor]:
        vals = []
        for ds in data_samples:
            v = ds.get(name, None) if hasattr(ds, 'get') else None
            if v is None:
                return None
            v = torch.as_tensor(v)
            if v.shape[0] != t:
                raise ValueError(f'data sample {name} has {v.shape[0]} frames'
                                 f', inputs have T={t}')
            vals.append(v)
        return torch.stack(vals).flatten(0, 1).to(device)

    # ---------------------------------------------------------------- forward
    def forward(self,
                inputs: dict,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> ForwardResults:
        """Args:
            inputs (dict): ``frames [B,T,3,H,W]``, ``audio [B,T,S]`` and, in
                training, ``audio_aug [B,T,S]``.
            data_samples (list): ``AVSDataSample`` per clip (``gt_masks
                [T,H,W]``, ``mask_flags [T]``, ``frame_flags [T]``).
            mode (str): 'loss' → loss dict; 'predict' → data samples with
                ``pred_logits``/``pred_masks``; 'tensor' → logits
                ``[B*T, K, H/4, W/4]`` (``H/s, W/s`` with a refiner of
                stride s).
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            frames, audio, _, _ = self._flatten_inputs(inputs)
            return self._decode(frames, self.extract_queries(audio))
        raise RuntimeError(f'Invalid mode "{mode}"; expected loss, predict '
                           'or tensor')

    def loss(self, inputs: dict,
             data_samples: List[BaseDataElement]) -> Dict[str, torch.Tensor]:
        """Segmentation losses on frames with ``mask_flags`` plus λ_con L_con
        (Eq. 9)."""
        frames, audio, b, t = self._flatten_inputs(inputs)
        if data_samples is None or len(data_samples) != b:
            got = None if data_samples is None else len(data_samples)
            raise ValueError(f'loss mode needs {b} data samples, got {got}')
        queries = self.extract_queries(audio)
        logits = self._decode(frames, queries)

        gt = self._stack_field(data_samples, 'gt_masks', t, logits.device)
        if gt is None:
            raise ValueError('loss mode needs gt_masks in every data sample')
        mask_flags = self._stack_field(data_samples, 'mask_flags', t,
                                       logits.device)
        if mask_flags is None:
            mask_flags = torch.ones(b * t, dtype=torch.bool,
                                    device=logits.device)
        mask_flags = mask_flags.bool()
        losses = OrderedDict()
        if mask_flags.all():  # no boolean gather (and its copy) needed
            sel_logits, sel_gt = logits, gt
        else:
            sel_logits, sel_gt = logits[mask_flags], gt[mask_flags]
        sel_logits = self._resize(sel_logits, gt.shape[-2:])
        sel_gt = sel_gt.long()
        for loss_fn in self.losses:
            name = loss_fn.loss_name
            if not mask_flags.any():  # keep the graph, contribute 0
                value = logits.sum() * 0.
            else:
                value = loss_fn(sel_logits, sel_gt)
            losses[name] = losses[name] + value if name in losses else value

        if self.with_contrastive and inputs.get('audio_aug') is not None:
            audio_aug = inputs['audio_aug'].flatten(0, 1)
            if audio_aug.shape != audio.shape:
                raise ValueError(f'audio_aug {tuple(audio_aug.shape)} must '
                                 f'match audio {tuple(audio.shape)}')
            queries_aug = self.extract_queries(audio_aug)
            frame_flags = self._stack_field(data_samples, 'frame_flags', t,
                                            logits.device)
            if frame_flags is None:
                frame_flags = torch.ones(b * t, dtype=torch.bool,
                                         device=logits.device)
            frame_flags = frame_flags.bool()
            losses.update(
                self.contrastive_head.loss(queries[frame_flags],
                                           queries_aug[frame_flags]))
        return losses

    def predict(self, inputs: dict,
                data_samples: Optional[List[BaseDataElement]] = None
                ) -> List[BaseDataElement]:
        """Logits and masks for every frame (never runs COM), restored to
        each clip's original frame size by :meth:`postprocess_result`."""
        frames, audio, b, t = self._flatten_inputs(inputs)
        logits = self._decode(frames, self.extract_queries(audio))
        logits = logits.reshape(b, t, *logits.shape[1:])
        return self.postprocess_result(logits, data_samples,
                                       tuple(frames.shape[-2:]))

    def postprocess_result(self,
                           logits: torch.Tensor,
                           data_samples: Optional[List[BaseDataElement]],
                           input_size: Sequence[int]
                           ) -> List[BaseDataElement]:
        """Bring each clip's logits back to its frames as loaded, then
        threshold them (mmseg's ``BaseSegmentor.postprocess_result``).

        Per clip, following its metainfo: crop ``padding_size`` (pixels
        ``(left, right, top, bottom)`` of the input frames), undo a
        ``flip`` along ``flip_direction`` and resize bilinearly to
        ``ori_shape`` (``input_size`` when the sample has none). Then
        ``pred_masks`` is ``logit > 0`` (= sigmoid > 0.5) in binary mode and
        the argmax in semantic mode.

        Args:
            logits (Tensor): ``[B, T, K, h, w]`` decoder logits.
            data_samples (list, optional): one per clip; None → new
                :class:`BaseDataElement` s.
            input_size (Sequence[int]): ``(H, W)`` of the frames the model
                saw.

        Returns:
            list: the data samples with ``pred_logits`` float
            ``[T, K, H0, W0]`` and ``pred_masks`` int64 ``[T, H0, W0]``.
        """
        b = logits.shape[0]
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(b)]
        if len(data_samples) != b:
            raise ValueError(f'{b} clips but {len(data_samples)} data samples')
        input_size = tuple(input_size)
        for lg, ds in zip(logits, data_samples):
            meta = ds.metainfo
            pad = meta.get('padding_size')
            if pad is not None and any(pad):
                left, right, top, bottom = pad
                lg = self._resize(lg, input_size)
                lg = lg[..., top:input_size[0] - bottom,
                        left:input_size[1] - right]
            if meta.get('flip', False):
                direction = meta.get('flip_direction')
                if direction not in ('horizontal', 'vertical'):
                    raise ValueError(f'flip_direction must be horizontal or '
                                     f'vertical, got {direction!r}')
                lg = lg.flip(-1 if direction == 'horizontal' else -2)
            lg = self._resize(lg, tuple(meta.get('ori_shape', input_size)))
            if self.mask_mode == 'binary':
                masks = (lg[:, 0] > 0).long()
            else:
                masks = lg.argmax(dim=1)
            ds.set_data(dict(pred_logits=lg, pred_masks=masks))
        return data_samples

    # ------------------------------------------------------------- reporting
    def parameter_counts(self) -> 'OrderedDict[str, int]':
        """Parameter counts per component (buffers such as the prototype
        bank are not parameters and are not counted).

        Keys: backbone, audio_encoder, audio_query, avam (alignment blocks
        or baseline fusion), mask_decoder (the decode head, with the query
        readout if any), refiner, contrastive_head, total,
        total_inference (without the training-only contrastive head),
        trainable.
        """

        def count(m: Optional[nn.Module]) -> int:
            return 0 if m is None else sum(p.numel() for p in m.parameters())

        counts = OrderedDict()
        counts['backbone'] = count(self.backbone)
        counts['audio_encoder'] = count(self.audio_encoder)
        counts['audio_query'] = count(self.audio_query)
        counts['avam'] = count(self.alignment)
        counts['mask_decoder'] = count(self.decode_head)
        counts['refiner'] = count(self.refiner)
        counts['contrastive_head'] = count(self.contrastive_head)
        counts['total'] = count(self)
        counts['total_inference'] = counts['total'] - \
            counts['contrastive_head']
        counts['trainable'] = sum(
            p.numel() for p in self.parameters() if p.requires_grad)
        return counts

    def format_parameter_counts(self) -> str:
        """Human-readable :meth:`parameter_counts` in millions."""
        return '\n'.join(f'{k:>16}: {v / 1e6:8.2f} M'
                         for k, v in self.parameter_counts().items())
