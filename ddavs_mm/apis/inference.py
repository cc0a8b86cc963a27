"""Build a DDAVS model from a config and segment one clip of frames + audio.

:func:`init_model` mirrors ``mmseg.apis.init_model``; :func:`inference_clip`
turns raw RGB frames and a waveform into the tensors the pipeline would have
produced (``PackAVSInputs``), runs the model's own data preprocessor and
``predict`` and returns masks at the frames' resolution.
"""
import copy
import os
import os.path as osp
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

ConfigType = Union[str, Path, Config]

DEFAULT_SAMPLE_RATE = 16000
DEFAULT_NUM_FRAMES = 5
DEFAULT_TEST_SIZE = (224, 224)


# ---------------------------------------------------------------------------
# Audio: one segment per frame
# ---------------------------------------------------------------------------
def centered_audio_segments(waveform: np.ndarray,
                            sample_rate: int,
                            timestamps: Sequence[float],
                            segment_seconds: float = 1.0) -> np.ndarray:
    """Cut one audio segment centred on each frame's timestamp.

    Segment ``i`` holds the samples ``[c_i - S // 2, c_i - S // 2 + S)`` with
    ``S = round(segment_seconds * sample_rate)`` and
    ``c_i = round(timestamps[i] * sample_rate)``; samples outside the
    waveform (clip edges) are zeros. A frame at ``k + 0.5`` s with 1-s
    segments gets exactly the audio second ``[k, k + 1)``, AVSBench's pairing.

    Args:
        waveform (np.ndarray): float [N] mono waveform, sample ``j`` at time
            ``j / sample_rate``.
        sample_rate (int): Sample rate in Hz.
        timestamps (Sequence[float]): T frame times in seconds.
        segment_seconds (float): Segment length in seconds. Defaults to 1.0.

    Returns:
        np.ndarray: float32 [T, S].

    Examples:
        >>> centered_audio_segments(np.arange(1, 6), 1, [0.0, 2.0], 3.0)
        array([[0., 1., 2.],
               [2., 3., 4.]], dtype=float32)
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f'waveform must be 1-D (mono), got shape '
                         f'{waveform.shape}.')
    if sample_rate <= 0 or segment_seconds <= 0:
        raise ValueError(f'sample_rate ({sample_rate}) and segment_seconds '
                         f'({segment_seconds}) must be positive.')
    seg_len = int(round(segment_seconds * sample_rate))
    n = waveform.shape[0]
    out = np.zeros((len(timestamps), seg_len), np.float32)
    for i, t in enumerate(timestamps):
        start = int(round(float(t) * sample_rate)) - seg_len // 2
        lo, hi = max(start, 0), min(start + seg_len, n)
        if hi > lo:
            out[i, lo - start:hi - start] = waveform[lo:hi]
    return out


def clip_timestamps(num_frames: int, duration: float) -> np.ndarray:
    """Times of ``num_frames`` frames spread evenly over ``duration`` seconds.

    Frame ``i`` sits at the centre of the ``i``-th of ``num_frames`` equal
    intervals: ``(i + 0.5) * duration / num_frames`` (a 5-s AVSBench clip:
    0.5, 1.5, ..., 4.5 s).

    Args:
        num_frames (int): T.
        duration (float): Clip length in seconds.

    Returns:
        np.ndarray: float64 [T].
    """
    return (np.arange(num_frames) + 0.5) * (duration / num_frames)


# ---------------------------------------------------------------------------
# Reading what the model expects from its config
# ---------------------------------------------------------------------------
def _iter_pipelines(cfg: Config) -> Iterable[List[dict]]:
    if cfg.get('test_pipeline'):
        yield cfg.test_pipeline
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        dataset = loader.get('dataset', {})
        # Wrapped datasets (ConcatDataset / RepeatDataset) nest 'dataset(s)'.
        while isinstance(dataset, dict) and 'pipeline' not in dataset \
                and 'dataset' in dataset:
            dataset = dataset['dataset']
        if isinstance(dataset, dict) and dataset.get('pipeline'):
            yield dataset['pipeline']


def _find_transform(cfg: Config, predicate) -> Optional[dict]:
    for pipeline in _iter_pipelines(cfg):
        for t in pipeline:
            if isinstance(t, dict) and predicate(str(t.get('type', ''))):
                return t
    return None


def _as_hw(size: Union[int, Sequence[int]], wh_order: bool) -> Tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise ValueError(f'Expected an (int, int) size, got {size}.')
    return (size[1], size[0]) if wh_order else size


def get_test_resize(cfg: Config) -> Tuple[Tuple[int, int], bool]:
    """The frame size the model is tested at.

    Looked up, in order, in the config keys ``test_size`` / ``img_size``
    ((H, W) or int), then the ``scale`` of the first ``*Resize`` transform
    of the test / val pipeline (mmcv convention: (W, H)) with its
    ``keep_ratio``; falls back to 224 x 224.

    Args:
        cfg (Config): Model config.

    Returns:
        tuple: ``((H, W), keep_ratio)``.
    """
    for key in ('test_size', 'img_size'):
        if cfg.get(key) is not None:
            return _as_hw(cfg.get(key), wh_order=False), False
    t = _find_transform(cfg, lambda name: name.endswith('Resize'))
    if t is not None and t.get('scale') is not None:
        return _as_hw(t['scale'], wh_order=True), bool(t.get('keep_ratio'))
    return DEFAULT_TEST_SIZE, False


def _transform_defaults(type_name: str) -> dict:
    """Default constructor arguments of a registered transform."""
    import inspect

    from ddavs_mm.registry import TRANSFORMS
    try:
        cls = TRANSFORMS.get(type_name)
        params = inspect.signature(cls.__init__).parameters
    except Exception:
        return {}
    return {
        k: p.default
        for k, p in params.items() if p.default is not inspect.Parameter.empty
    }


def _encoder_sample_rate(model: Optional[nn.Module]) -> Optional[int]:
    enc = find_audio_encoder(model) if model is not None else None
    if enc is None:
        return None
    for owner in (enc, getattr(enc, 'frontend', None)):
        rate = getattr(owner, 'sample_rate', None)
        if isinstance(rate, (int, float)) and rate > 0:
            return int(rate)
    return None


def get_audio_settings(cfg: Config,
                       model: Optional[nn.Module] = None) -> Tuple[int, float]:
    """Sample rate and per-frame segment length the model expects.

    The sample rate is the one of the built model's audio encoder (its
    ``sample_rate`` or ``frontend.sample_rate``) when ``model`` is given;
    otherwise that of the ``LoadAudio`` transform of the test pipeline
    (its default if unset), then the config keys ``sample_rate`` /
    ``audio_sample_rate``; 16 kHz as a last resort. The segment length
    comes from ``LoadAudio`` or the config key ``segment_seconds``;
    1 s by default.

    Returns:
        tuple: ``(sample_rate, segment_seconds)``.
    """
    rate, seg = None, None
    t = _find_transform(cfg, lambda name: 'Audio' in name and 'Load' in name)
    if t is not None:
        defaults = _transform_defaults(t['type'])
        rate = t.get('sample_rate', defaults.get('sample_rate'))
        seg = t.get('segment_seconds', defaults.get('segment_seconds'))
    rate = _encoder_sample_rate(model) or rate or cfg.get(
        'sample_rate') or cfg.get('audio_sample_rate')
    seg = seg or cfg.get('segment_seconds')
    return int(rate or DEFAULT_SAMPLE_RATE), float(seg or 1.0)


def get_num_frames(cfg: Config) -> int:
    """Frames per clip T (config key ``num_frames`` or the test dataset's)."""
    if cfg.get('num_frames'):
        return int(cfg.num_frames)
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key) or {}
        n = (loader.get('dataset') or {}).get('num_frames')
        if n:
            return int(n)
    t = _find_transform(cfg, lambda name: 'Load' in name and 'Frame' in name)
    if t is not None and t.get('num_frames'):
        return int(t['num_frames'])
    return DEFAULT_NUM_FRAMES


def find_audio_encoder(model: nn.Module) -> Optional[nn.Module]:
    """The audio encoder submodule (``audio_encoder``/``audio_backbone``)."""
    for name in ('audio_encoder', 'audio_backbone', 'audio_net'):
        m = getattr(model, name, None)
        if isinstance(m, nn.Module):
            return m
    for _, m in model.named_modules():
        if type(m).__name__ == 'HTSATAudioEncoder':
            return m
    return None


def find_visual_backbone(model: nn.Module) -> Optional[nn.Module]:
    """The visual backbone submodule (``backbone``/``visual_encoder``)."""
    for name in ('backbone', 'visual_backbone', 'visual_encoder',
                 'image_encoder'):
        m = getattr(model, name, None)
        if isinstance(m, nn.Module):
            return m
    return None


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------
def init_model(config: ConfigType,
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               fast: bool = False) -> nn.Module:
    """Build a DDAVS model from a config and load its weights.

    Checkpoints are read by :func:`mmengine.runner.load_checkpoint`, i.e. by
    ``torch.load`` with torch's default ``weights_only=True`` (importing
    :mod:`ddavs_mm` allows exactly MMEngine's own pickled types). Without a
    checkpoint the weights stay as constructed (random); pretrained
    ``init_cfg`` weights are not fetched.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file. Defaults to None.
        device (str): Device to put the model on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
        fast (bool): Switch the model to the fast inference path
            (:func:`~ddavs_mm.apis.fast_inference.optimize_for_inference`
            with its defaults for the device, fixed shapes). Defaults to
            False.

    Returns:
        nn.Module: The model in eval mode, with ``model.cfg`` set (and
        ``model.dataset_meta`` if the checkpoint holds it).
    """
    if isinstance(config, (str, Path)):
        config = os.fspath(config)
        if not osp.isfile(config):
            raise FileNotFoundError(f'Config file not found: {config}')
        config = Config.fromfile(config)
    elif not isinstance(config, Config):
        raise TypeError('config must be a filename or a Config, got '
                        f'{type(config).__name__}')
    else:
        config = copy.deepcopy(config)
    if cfg_options is not None:
        config.merge_from_dict(cfg_options)
    if 'model' not in config:
        raise KeyError(f'Config {config.filename} has no `model` entry.')
    init_default_scope(config.get('default_scope', 'ddavs_mm'))
    from ddavs_mm.registry import MODELS
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    model = MODELS.build(config.model)
    if checkpoint is not None:
        is_remote = '://' in str(checkpoint)
        if not is_remote and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'Checkpoint file not found: '
                                    f'{checkpoint}')
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if meta.get('dataset_meta'):
            model.dataset_meta = meta['dataset_meta']
    model.cfg = config
    model.to(device)
    model.eval()
    if fast:
        from .fast_inference import optimize_for_inference
        optimize_for_inference(model)
    return model


def _resize_frames(frames: np.ndarray, size: Tuple[int, int],
                   keep_ratio: bool) -> np.ndarray:
    """Resize uint8 [T, H, W, 3] frames bilinearly (cv2, like mmcv)."""
    import cv2
    h, w = frames.shape[1:3]
    if keep_ratio:
        # mmcv.imrescale: largest size fitting in (long, short) edges.
        long_edge, short_edge = max(size), min(size)
        scale = min(long_edge / max(h, w), short_edge / min(h, w))
        size = (int(h * scale + 0.5), int(w * scale + 0.5))
    if (h, w) == tuple(size):
        return frames
    return np.stack([
        cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        for f in frames
    ])


def _resample(waveform: np.ndarray, orig: int, new: int) -> np.ndarray:
    if orig == new:
        return waveform
    import torchaudio.functional as AF
    return AF.resample(torch.from_numpy(np.ascontiguousarray(waveform)),
                       orig, new).numpy()


@torch.no_grad()
def inference_clip(model: nn.Module,
                   frames: np.ndarray,
                   waveform: np.ndarray,
                   sample_rate: int,
                   segment_seconds: float = 1.0,
                   timestamps: Optional[Sequence[float]] = None,
                   threshold: float = 0.5,
                   full_res_logits: bool = True) -> Dict[str, Any]:
    """Segment the sounding objects of one clip.

    Args:
        model (nn.Module): Model from :func:`init_model` (needs ``model.cfg``).
        frames (np.ndarray): uint8 [T, H, W, 3] RGB frames.
        waveform (np.ndarray): float32 [N] mono waveform at ``sample_rate``,
            sample 0 at time 0 of the frames' timeline.
        sample_rate (int): Rate of ``waveform``; resampled to the model's.
        segment_seconds (float): Audio per frame, centred on the frame's
            timestamp and zero-padded at the clip edges. Defaults to 1.0.
        timestamps (Sequence[float], optional): T frame times in seconds;
            default spreads the frames evenly over the waveform
            (:func:`clip_timestamps`).
        threshold (float): Probability threshold of binary masks.
        full_res_logits (bool): Return ``pred_logits``/``probs`` at the
            frames' resolution (True) or at the model's (False, cheaper for
            big frames / many classes). Masks are always at the frames'
            resolution.

    Returns:
        dict: ``pred_masks`` int64 np [T, H, W] (0/1, or class ids),
        ``pred_logits`` float32 np [T, C, h, w] (C = 1 binary),
        ``probs`` float32 np [T, C, h, w] (sigmoid for C = 1, else softmax),
        ``audio`` float32 np [T, S] (the per-frame segments fed to the model).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f'frames must be [T, H, W, 3] RGB, got shape '
                         f'{frames.shape}.')
    if frames.dtype != np.uint8:
        raise TypeError(f'frames must be uint8, got {frames.dtype}.')
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f'waveform must be 1-D (mono), got shape '
                         f'{waveform.shape}.')
    if not np.isfinite(waveform).all():
        raise ValueError('waveform contains NaN or inf.')
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('model has no `cfg`; build it with init_model.')
    num_frames, (orig_h, orig_w) = frames.shape[0], frames.shape[1:3]
    if timestamps is None:
        timestamps = clip_timestamps(num_frames, len(waveform) / sample_rate)
    if len(timestamps) != num_frames:
        raise ValueError(f'{len(timestamps)} timestamps for {num_frames} '
                         f'frames.')

    model_rate, _ = get_audio_settings(cfg, model)
    waveform = _resample(waveform, int(sample_rate), model_rate)
    audio = centered_audio_segments(waveform, model_rate, timestamps,
                                    segment_seconds)

    (test_h, test_w), keep_ratio = get_test_resize(cfg)
    resized = _resize_frames(frames, (test_h, test_w), keep_ratio)
    img_shape = resized.shape[1:3]

    from ddavs_mm.structures import AVSDataSample
    sample = AVSDataSample(
        metainfo=dict(
            sample_idx=0,
            clip_id='inference',
            frame_paths=[''] * num_frames,
            audio_paths=[''],
            ori_shape=img_shape,
            img_shape=img_shape,
            num_frames=num_frames,
            mask_mode=getattr(model, 'mask_mode', None) or 'binary',
            flip=False))
    sample.frame_flags = torch.ones(num_frames, dtype=torch.bool)
    sample.mask_flags = torch.zeros(num_frames, dtype=torch.bool)
    inputs = dict(
        frames=torch.from_numpy(np.ascontiguousarray(
            resized.transpose(0, 3, 1, 2))),
        audio=torch.from_numpy(audio))
    results = model.test_step(dict(inputs=[inputs], data_samples=[sample]))
    logits = results[0].pred_logits.detach().float()  # [T, C, h, w]
    if logits.dim() != 4 or logits.shape[0] != num_frames:
        raise RuntimeError(f'Model returned pred_logits of shape '
                           f'{tuple(logits.shape)} for {num_frames} frames.')

    binary = logits.shape[1] == 1
    masks = torch.empty(num_frames, orig_h, orig_w, dtype=torch.int64)
    full_logits = []
    for i in range(num_frames):  # one frame at a time bounds the memory
        up = F.interpolate(logits[i:i + 1], size=(orig_h, orig_w),
                           mode='bilinear', align_corners=False)[0]
        if binary:
            masks[i] = (up[0].sigmoid() > threshold).long()
        else:
            masks[i] = up.argmax(0)
        if full_res_logits:
            full_logits.append(up.cpu())
    out_logits = torch.stack(full_logits) if full_res_logits else logits.cpu()
    probs = out_logits.sigmoid() if binary else out_logits.softmax(1)
    return dict(
        pred_masks=masks.numpy(),
        pred_logits=out_logits.numpy(),
        probs=probs.numpy(),
        audio=audio)
