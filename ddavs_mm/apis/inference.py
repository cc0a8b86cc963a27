"""Build a DDAVS model from a config and segment one clip of frames + audio.

:func:`init_model` mirrors ``mmseg.apis.init_model``; :func:`inference_clip`
follows ``mmseg.apis.inference_model``: the config's own ``test_pipeline``
runs on the in-memory frames and waveform (:func:`build_test_pipeline`
swaps the file loaders for in-memory ones and drops the mask loader), then
``model.test_step`` predicts and restores the masks to the frames' size.
Nothing about sizes, rates or frame counts is guessed: the pipeline in the
config is the truth, and a config without what is needed is an error.
"""
import copy
import os
import os.path as osp
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from ddavs_mm.datasets.transforms import (ClipResize, LoadAudio,
                                          LoadClipFrames, LoadClipMasks)
from ddavs_mm.datasets.transforms.array_loading import (  # noqa: F401
    centered_audio_segments, clip_timestamps)
from ddavs_mm.utils.checkpoint_loading import (load_state_dict_checked,
                                               read_checkpoint)

ConfigType = Union[str, Path, Config]

#: file loader of a test pipeline -> its in-memory variant
IN_MEMORY_LOADERS = ((LoadClipFrames, 'LoadClipFramesFromNDArray'),
                     (LoadAudio, 'LoadAudioFromNDArray'))


def build_test_pipeline(cfg: Config) -> Compose:
    """The config's ``test_pipeline``, made to take clips from memory.

    As mmseg's ``_preprare_data``: :class:`LoadClipFrames` and
    :class:`LoadAudio` become ``LoadClipFramesFromNDArray`` and
    ``LoadAudioFromNDArray`` with the same arguments, and
    :class:`LoadClipMasks` is dropped; every other step runs as configured.

    Args:
        cfg (Config): Model config.

    Returns:
        Compose: takes ``dict(frames=uint8 [T, H, W, 3], waveform=[N],
        waveform_rate=int, num_frames=T, timestamps=[T] (optional))``.

    Raises:
        ValueError: the config has no ``test_pipeline``, or it loads no
            frames or no audio.
        KeyError: a transform of the pipeline is not registered.
    """
    from ddavs_mm.registry import TRANSFORMS
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    name = _name(cfg)
    if not cfg.get('test_pipeline'):
        raise ValueError(f'{name} has no test_pipeline; inference runs the '
                         'config\'s own test pipeline.')
    transforms, found = [], set()
    for step in cfg.test_pipeline:
        step = copy.deepcopy(dict(step))
        cls = step.get('type')
        cls = cls if isinstance(cls, type) else TRANSFORMS.get(cls)
        if cls is None:
            raise KeyError(f'{name}: test_pipeline transform '
                           f'{step.get("type")!r} is not registered.')
        if issubclass(cls, LoadClipMasks):
            continue
        for loader, in_memory in IN_MEMORY_LOADERS:
            if issubclass(cls, loader):
                step['type'] = in_memory
                found.add(loader)
        transforms.append(TRANSFORMS.build(step))
    missing = [c.__name__ for c, _ in IN_MEMORY_LOADERS if c not in found]
    if missing:
        raise ValueError(f'The test_pipeline of {name} has no '
                         f'{" / ".join(missing)}; inference needs the '
                         'pipeline to load frames and audio.')
    return Compose(transforms)


def _name(cfg: Config) -> str:
    return getattr(cfg, 'filename', None) or 'the config'


def _find(pipeline: Compose, cls: type) -> Optional[Any]:
    return next((t for t in pipeline.transforms if isinstance(t, cls)), None)


def _audio_loader(pipeline: Compose, cfg: Config,
                  model: Optional[nn.Module]) -> LoadAudio:
    loader = _find(pipeline, LoadAudio)
    frontend = getattr(find_audio_encoder(model), 'frontend', None)
    rate = getattr(frontend, 'sample_rate', loader.sample_rate)
    if rate != loader.sample_rate:
        raise ValueError(
            f'The test_pipeline of {_name(cfg)} loads audio at '
            f'{loader.sample_rate} Hz but the audio encoder expects {rate} '
            'Hz; set LoadAudio(sample_rate=...) to match.')
    return loader


def get_audio_settings(cfg: Config,
                       model: Optional[nn.Module] = None) -> Tuple[int, float]:
    """Sample rate and per-frame segment seconds of the test pipeline's
    audio loader (its arguments or defaults).

    Args:
        cfg (Config): Model config.
        model (nn.Module, optional): When given, its audio encoder's
            ``frontend.sample_rate`` must match the pipeline's rate.

    Returns:
        tuple: ``(sample_rate, segment_seconds)``.
    """
    loader = _audio_loader(build_test_pipeline(cfg), cfg, model)
    return loader.sample_rate, loader.segment_seconds


def get_test_resize(cfg: Config) -> Tuple[Tuple[int, int], bool]:
    """``((H, W), keep_ratio)`` of the test pipeline's :class:`ClipResize`.

    Raises:
        ValueError: the test pipeline has no :class:`ClipResize`.
    """
    resize = _find(build_test_pipeline(cfg), ClipResize)
    if resize is None:
        raise ValueError(f'The test_pipeline of {_name(cfg)} has no '
                         'ClipResize, so it has no fixed frame size.')
    return (resize.scale[1], resize.scale[0]), resize.keep_ratio


def get_num_frames(cfg: Config) -> int:
    """Frames per clip ``T`` of the test data set (its ``num_frames`` or
    its class's ``NUM_FRAMES``).

    Raises:
        ValueError: the config's test data set does not tell.
    """
    from ddavs_mm.registry import DATASETS
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    while 'dataset' in dataset:  # wrappers such as RepeatDataset
        dataset = dataset['dataset']
    cls = DATASETS.get(dataset['type']) if dataset.get('type') else None
    num = dataset.get('num_frames') or getattr(cls, 'NUM_FRAMES', None)
    if not num:
        raise ValueError(f'Cannot tell the frames per clip of {_name(cfg)}:'
                         ' set test_dataloader.dataset.num_frames.')
    return int(num)


def find_audio_encoder(model: Optional[nn.Module]) -> Optional[nn.Module]:
    """The model's ``audio_encoder`` submodule (None if it has none)."""
    return getattr(model, 'audio_encoder', None)


def find_visual_backbone(model: Optional[nn.Module]) -> Optional[nn.Module]:
    """The model's visual ``backbone`` submodule (None if it has none)."""
    return getattr(model, 'backbone', None)


def init_model(config: ConfigType,
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               strict: bool = True,
               fast: bool = False) -> nn.Module:
    """Build a DDAVS model from a config and load its weights.

    Checkpoints are read with ``torch.load(weights_only=True)`` (importing
    :mod:`ddavs_mm` allows exactly MMEngine's own pickled types) and loaded
    strictly (:mod:`ddavs_mm.utils.checkpoint_loading`). Without a
    checkpoint the weights stay as constructed (random); pretrained
    ``init_cfg`` weights are not fetched.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint file. Defaults to None.
        device (str): Device to put the model on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
        strict (bool): A checkpoint key missing, unexpected or mis-shaped
            for the model is a ``CheckpointError`` naming the file and the
            keys. False: load the keys that fit and log a table of the
            rest. Defaults to True.
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
        ckpt = read_checkpoint(checkpoint, map_location='cpu')
        load_state_dict_checked(model, ckpt, checkpoint, strict=strict)
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


@torch.no_grad()
def inference_clip(model: nn.Module,
                   frames: np.ndarray,
                   waveform: np.ndarray,
                   sample_rate: int,
                   timestamps: Optional[Sequence[float]] = None,
                   threshold: float = 0.5) -> Dict[str, np.ndarray]:
    """Segment the sounding objects of one clip.

    The frames and the waveform go through the config's test pipeline
    (:func:`build_test_pipeline`): resized as it says, and each frame paired
    with the pipeline's ``segment_seconds`` of audio centred on its
    timestamp, resampled to the pipeline's rate.

    Args:
        model (nn.Module): Model from :func:`init_model` (needs ``model.cfg``).
        frames (np.ndarray): uint8 [T, H, W, 3] RGB frames.
        waveform (np.ndarray): float [N] mono waveform at ``sample_rate``,
            sample 0 at time 0 of the frames' timeline.
        sample_rate (int): Rate of ``waveform`` in Hz.
        timestamps (Sequence[float], optional): T frame times in seconds;
            default spreads the frames evenly over the waveform
            (:func:`clip_timestamps`).
        threshold (float): Probability threshold of binary masks.

    Returns:
        dict: at the frames' resolution ``(H, W)``: ``pred_masks`` int64
        [T, H, W] (0/1, or class ids), ``pred_logits`` float32
        [T, C, H, W] (C = 1 binary), ``probs`` float32 [T, C, H, W]
        (sigmoid for C = 1, else softmax); and ``audio`` float32 [T, S]
        (the per-frame segments fed to the model).
    """
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('model has no `cfg`; build it with init_model.')
    frames, waveform = np.asarray(frames), np.asarray(waveform, np.float32)
    if frames.ndim != 4:
        raise ValueError(f'frames must be [T, H, W, 3] RGB, got shape '
                         f'{frames.shape}.')
    if timestamps is None:
        timestamps = clip_timestamps(len(frames),
                                     waveform.shape[0] / sample_rate)
    pipeline = build_test_pipeline(cfg)
    _audio_loader(pipeline, cfg, model)  # the model takes the pipeline's rate
    data = pipeline(
        dict(frames=frames, waveform=waveform, waveform_rate=sample_rate,
             timestamps=timestamps, num_frames=len(frames), sample_idx=0,
             clip_id='inference'))
    sample = model.test_step(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]))[0]
    logits = sample.pred_logits.detach().float().cpu()
    binary = logits.shape[1] == 1
    probs = logits.sigmoid() if binary else logits.softmax(1)
    masks = sample.pred_masks.cpu()
    if binary and threshold != 0.5:
        masks = (probs[:, 0] > threshold).long()
    return dict(
        pred_masks=masks.numpy(),
        pred_logits=logits.numpy(),
        probs=probs.numpy(),
        audio=data['inputs']['audio'].numpy())
