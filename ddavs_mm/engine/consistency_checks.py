"""Checks of a run's parts against each other, before the first step.

A config joins parts that are written in different places: the model's
class count and audio front end, the data set's class list, the bank file,
the data pipelines, the evaluator and the checkpoint hook. A mismatch
between two of them used to surface late: after a whole training epoch (a
71-class model on an 11-class data set, ``save_best='auto'`` on a key whose
direction MMEngine cannot infer) or as a shape error deep in a forward pass.
Each check here compares two sides and raises :class:`ConsistencyError`
naming both, with their values and where they come from; on success it
returns one line saying what it verified.

The checks (each a function, so it can be used and tested alone):

* :func:`check_classes`: the model's output classes (``model.mask_mode``,
  ``model.num_classes``) against a data set's mask mode and class list
  (``metainfo['classes']``) and the mask mode forced by the pipeline's
  ``LoadClipMasks``.
* :func:`check_metric`: the model's outputs against what the evaluator's
  ``JFMetric`` reads (binary logits in ``'avsbench'`` mode, one map per
  class in ``'avss'`` / ``'vpo'``; its ``num_classes``).
* :func:`check_bank`: the prototype bank's width against the query module
  (``audio_query.in_channels``) and the audio encoder, and, for a semantic
  data set, the bank's classes against the data set's class list (a binary
  data set has no class list: the bank of the binary configs holds source
  categories, e.g. AVSBench S4's 23).
* :func:`check_audio`: the pipeline's ``LoadAudio`` rate and segment length
  against the audio encoder's front end (sample rate; a segment longer than
  the encoder accepts, or shorter than the STFT's padding), and the data
  set's audio window (VPO's ``audio_seconds``) against the segments cut.
* :func:`check_frame_sizes`: every pipeline's output frame size: fixed
  where a loader stacks several clips, and the same for training,
  validation and test. The model learns at the training size, and
  ``JFMetric`` compares masks at the size the val / test pipeline gives
  them (the model's logits are resized to that size), so a different val /
  test size changes what is measured.
* :func:`check_save_best`: every ``save_best`` key of the checkpoint hook
  among the evaluator's output keys (prefix included), with a comparison
  rule that is given or that MMEngine can infer.

:func:`run_consistency_checks` gathers the sides from an MMEngine runner;
:class:`~ddavs_mm.engine.hooks.ConsistencyCheckHook` calls it before
training and before testing.
"""
import logging
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

__all__ = [
    'CHECKS', 'ConsistencyError', 'check_classes', 'check_metric',
    'check_bank', 'check_audio', 'check_frame_sizes', 'check_save_best',
    'pipeline_frame_size', 'run_consistency_checks'
]

Size = Tuple[int, int]


class ConsistencyError(ValueError):
    """Two parts of a run do not fit together (the message names both)."""


# ---------------------------------------------------------------------------
# descriptions of the two sides
# ---------------------------------------------------------------------------
def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def _model_side(model: nn.Module, config: str) -> str:
    where = f' in {config}' if config else ''
    return (f'the model (model.mask_mode={model.mask_mode!r}, '
            f'model.num_classes={model.num_classes}{where})')


def _base_dataset(dataset: Any) -> Any:
    """The first plain data set inside dataset wrappers."""
    seen = 0
    while seen < 10 and not hasattr(dataset, 'pipeline'):
        inner = getattr(dataset, 'dataset', None)
        if inner is None:
            inner = (getattr(dataset, 'datasets', None) or [None])[0]
        if inner is None:
            break
        dataset, seen = inner, seen + 1
    return dataset


def _dataset_side(dataset: Any, where: str) -> str:
    ds = _base_dataset(dataset)
    parts = [f'data_root={getattr(ds, "data_root", "?")!r}']
    if getattr(ds, 'split', None) is not None:
        parts.append(f'split={ds.split!r}')
    return f'{where} ({type(ds).__name__}, {", ".join(parts)})'


def _names(classes: Sequence[str], shown: int = 4) -> str:
    classes = [str(c) for c in classes]
    if len(classes) <= shown:
        return repr(classes)
    return f'[{", ".join(map(repr, classes[:shown]))}, ...]'


def _transforms(dataset: Any) -> List[Any]:
    pipeline = getattr(_base_dataset(dataset), 'pipeline', None)
    return list(getattr(pipeline, 'transforms', pipeline or []))


def _find(transforms: Iterable[Any], *attrs: str) -> List[Any]:
    return [t for t in transforms if all(hasattr(t, a) for a in attrs)]


# ---------------------------------------------------------------------------
# classes
# ---------------------------------------------------------------------------
def check_classes(model: nn.Module, dataset: Any, where: str,
                  config: str = '') -> str:
    """The model's output classes against a data set's class list.

    Args:
        model (nn.Module): a segmentor with ``mask_mode`` and ``num_classes``
            (:class:`~ddavs_mm.models.DDAVS`).
        dataset: the data set (``metainfo['classes']``, ``mask_mode``, its
            pipeline's ``LoadClipMasks``).
        where (str): how the data set is named in messages, e.g.
            ``'train_dataloader.dataset'``.
        config (str): the config file, named in messages.

    Returns:
        str: what was verified.

    Raises:
        ConsistencyError: the mask modes differ, or a semantic model's class
            count differs from the data set's.
    """
    model = _unwrap(model)
    ds = _base_dataset(dataset)
    meta = dict(getattr(dataset, 'metainfo', None) or {})
    classes = tuple(meta.get('classes', ()))
    ds_mode = getattr(ds, 'mask_mode', None) or meta.get('mask_mode')
    forced = [t.mask_mode for t in _find(_transforms(dataset), 'mask_mode')
              if type(t).__name__ == 'LoadClipMasks' and t.mask_mode]
    masks, masks_from = ds_mode, f'mask_mode={ds_mode!r}'
    if forced:
        masks = forced[-1]
        masks_from = f"its pipeline's LoadClipMasks(mask_mode={masks!r})"
    if masks is not None and masks != model.mask_mode:
        raise ConsistencyError(
            f'{_model_side(model, config)} predicts {model.mask_mode} masks '
            f'but {_dataset_side(dataset, where)} gives {masks} masks '
            f'({masks_from}); set the same mask_mode on both')
    if model.mask_mode == 'semantic' and len(classes) != model.num_classes:
        raise ConsistencyError(
            f'{_model_side(model, config)} outputs {model.num_classes} '
            f'classes but {_dataset_side(dataset, where)} has '
            f'{len(classes)} classes ({_names(classes)} in its '
            "metainfo['classes']); set model.num_classes and "
            'model.decode_head.mask_decoder.num_classes to '
            f'{len(classes)}, or use the data set the config was written '
            'for')
    if model.mask_mode == 'binary':
        return (f'classes: binary model (1 logit map) and binary masks of '
                f'{where}')
    return (f'classes: {model.num_classes} output maps = {len(classes)} '
            f'classes of {where} ({_names(classes)})')


def check_metric(model: nn.Module, metric: Any, where: str,
                 config: str = '') -> str:
    """The model's outputs against what a ``JFMetric`` reads.

    Args:
        model (nn.Module): see :func:`check_classes`.
        metric: a metric of the evaluator; only metrics with a ``mode`` of
            ``'avsbench'``, ``'avss'`` or ``'vpo'`` (``JFMetric``) are
            compared.
        where (str): e.g. ``'val_evaluator'``.
        config (str): the config file, named in messages.

    Returns:
        str: what was verified.

    Raises:
        ConsistencyError: binary logits for a semantic mode or the reverse,
            or a ``num_classes`` different from the model's.
    """
    model = _unwrap(model)
    mode = getattr(metric, 'mode', None)
    name = type(metric).__name__
    if mode not in ('avsbench', 'avss', 'vpo'):
        return f'metric: {where} {name} reads no model output format'
    wants = 'binary' if mode == 'avsbench' else 'semantic'
    if wants != model.mask_mode:
        raise ConsistencyError(
            f'{_model_side(model, config)} gives {model.mask_mode} logits '
            f'but {where} ({name}(mode={mode!r})) reads {wants} logits; use '
            f"mode='avsbench' for binary models and 'avss' / 'vpo' for "
            'semantic ones')
    n = getattr(metric, 'num_classes', None)
    if wants == 'semantic' and n is not None and n != model.num_classes:
        raise ConsistencyError(
            f'{_model_side(model, config)} outputs {model.num_classes} '
            f'classes but {where} ({name}(mode={mode!r})) counts {n} '
            '(its num_classes argument, else the data set\'s class list)')
    return f'metric: {where} {name}(mode={mode!r}) reads {wants} logits'


# ---------------------------------------------------------------------------
# prototype bank
# ---------------------------------------------------------------------------
def check_bank(model: nn.Module, dataset: Any, where: str,
               config: str = '') -> str:
    """The prototype bank against the query module and the data set.

    Args:
        model (nn.Module): a segmentor with ``audio_query.bank``
            (:class:`~ddavs_mm.models.audio_query.PrototypeBank`) and
            ``audio_encoder.out_channels``.
        dataset: the data set whose class list a semantic model predicts.
        where (str): how the data set is named in messages.
        config (str): the config file, named in messages.

    Returns:
        str: what was verified.

    Raises:
        ConsistencyError: the bank width differs from the query module's
            input width or the audio encoder's width; a class id of the
            bank is outside the data set's class list, or its class names
            differ from the data set's.
    """
    model = _unwrap(model)
    aqm = getattr(model, 'audio_query', None)
    bank = getattr(aqm, 'bank', None)
    if bank is None:
        return 'bank: none (model.audio_query.bank is None)'
    src = f'the prototype bank {bank.source} (model.audio_query.bank'
    src += f' in {config})' if config else ')'
    width = bank.embed_dims
    if width != aqm.in_channels:
        raise ConsistencyError(
            f'{src} has d={width} (shape {tuple(bank.prototypes.shape)}) '
            f'but the query module reads d={aqm.in_channels} '
            '(model.audio_query.in_channels); rebuild the bank with the '
            "model's audio encoder")
    enc_width = getattr(getattr(model, 'audio_encoder', None),
                        'out_channels', None)
    if enc_width is not None and enc_width != width:
        raise ConsistencyError(
            f'{src} has d={width} but the audio encoder gives '
            f'{enc_width}-d embeddings (model.audio_encoder); rebuild the '
            "bank with the model's audio encoder")
    ids = torch.unique(bank.class_ids[bank.class_ids >= 0]).tolist()
    line = (f'bank: {bank.num_prototypes} prototypes of d={width} = '
            'audio_query.in_channels')
    if model.mask_mode != 'semantic':
        return (f'{line}; {len(ids)} source classes (not compared: the '
                f'binary masks of {where} have no class list)')
    classes = tuple(str(c) for c in
                    (getattr(dataset, 'metainfo', None) or {}).get(
                        'classes', ()))
    outside = [i for i in ids if i >= len(classes)]
    if outside:
        raise ConsistencyError(
            f'{src} has prototypes of class ids {outside[:5]} but '
            f'{_dataset_side(dataset, where)} has {len(classes)} classes '
            f'({_names(classes)}); build the bank from this data set '
            '(tools/build_prototype_bank.py)')
    names = bank.class_names
    if names is not None and tuple(names) != classes:
        diff = next((i for i, (a, b) in enumerate(zip(names, classes))
                     if a != b), min(len(names), len(classes)))
        have = names[diff] if diff < len(names) else '(none)'
        want = classes[diff] if diff < len(classes) else '(none)'
        raise ConsistencyError(
            f'{src} was built for {len(names)} classes '
            f'({_names(names)}) but {_dataset_side(dataset, where)} has '
            f'{len(classes)} ({_names(classes)}); class {diff} is {have!r} '
            f'in the bank and {want!r} in the data set. Build the bank from '
            'this data set (tools/build_prototype_bank.py)')
    return (f'{line}; its {len(ids)} classes are classes of {where}'
            f'{" (same names)" if names is not None else ""}')


# ---------------------------------------------------------------------------
# audio
# ---------------------------------------------------------------------------
def _front_end(model: nn.Module) -> Tuple[Any, Any]:
    enc = getattr(model, 'audio_encoder', None)
    return enc, getattr(enc, 'frontend', None)


def check_audio(model: nn.Module, dataset: Any, where: str,
                config: str = '') -> str:
    """The pipeline's audio against the audio encoder's front end.

    Args:
        model (nn.Module): a segmentor with ``audio_encoder`` (its
            ``frontend.sample_rate`` / ``n_fft`` / ``center``, or its own
            ``sample_rate``, and ``max_samples`` when it has a limit).
        dataset: the data set; its pipeline's audio loader (a transform with
            ``sample_rate`` and ``segment_seconds``, i.e. ``LoadAudio``)
            and, when its clips keep a fixed audio window
            (``audio_duration``, VPO's ``audio_seconds``), its first clip.
        where (str): how the data set is named in messages.
        config (str): the config file, named in messages.

    Returns:
        str: what was verified.

    Raises:
        ConsistencyError: a different sample rate, a segment the encoder
            cannot take, or an audio window that the segments do not cover
            exactly.
    """
    model = _unwrap(model)
    enc, fe = _front_end(model)
    rate = getattr(fe, 'sample_rate', None) or getattr(enc, 'sample_rate',
                                                       None)
    loaders = _find(_transforms(dataset), 'sample_rate', 'segment_seconds')
    if enc is None or rate is None:
        return 'audio: not compared (the model has no audio front end)'
    if not loaders:
        raise ConsistencyError(
            f'{where}.pipeline has no audio loader (a transform with '
            'sample_rate and segment_seconds, e.g. LoadAudio) but the model '
            f'encodes audio at {rate} Hz (model.audio_encoder)')
    load = loaders[-1]
    enc_side = (f'the audio encoder (model.audio_encoder.frontend'
                f'{" in " + config if config else ""})')
    if int(load.sample_rate) != int(rate):
        raise ConsistencyError(
            f'{where}.pipeline loads audio at {load.sample_rate} Hz '
            f'({load!r}) but {enc_side} runs at {rate} Hz; set the '
            "LoadAudio sample_rate to the encoder's rate (the encoder's "
            'rate is fixed by its pretrained weights)')
    seg = int(round(load.segment_seconds * load.sample_rate))
    max_samples = getattr(enc, 'max_samples', None)
    if max_samples is not None and seg > max_samples:
        raise ConsistencyError(
            f'{where}.pipeline cuts segments of {load.segment_seconds} s '
            f'= {seg} samples ({load!r}) but {enc_side} takes at most '
            f'{max_samples} samples ({max_samples / rate:.2f} s)')
    n_fft = getattr(fe, 'n_fft', None)
    if n_fft is not None and getattr(fe, 'center', False) and \
            seg <= n_fft // 2:
        raise ConsistencyError(
            f'{where}.pipeline cuts segments of {seg} samples ({load!r}) '
            f'but {enc_side} pads each side by n_fft // 2 = {n_fft // 2} '
            'samples (reflect), which needs a longer segment')
    line = (f'audio: {where} loads {load.sample_rate} Hz, '
            f'{load.segment_seconds:g}-s segments ({seg} samples) = '
            f'encoder front end')
    window = _audio_window(dataset)
    if window is not None:
        duration, frames = window
        cut = frames * load.segment_seconds
        if abs(duration - cut) > 1e-6:
            raise ConsistencyError(
                f'{_dataset_side(dataset, where)} keeps {duration:g} s of '
                f'audio per clip (its audio window, e.g. VPO audio_seconds) '
                f'but its pipeline cuts {frames} frame(s) x '
                f'{load.segment_seconds:g} s = {cut:g} s ({load!r}); make '
                'them equal')
        line += f'; {duration:g}-s audio window = {frames} segment(s)'
    return line


def _audio_window(dataset: Any) -> Optional[Tuple[float, int]]:
    """``(audio_duration, frames)`` of the first clip, if it has one."""
    ds = _base_dataset(dataset)
    try:
        if len(ds) == 0:
            return None
        info = ds.get_data_info(0)
    except Exception:  # noqa: BLE001  (not initialised: nothing to read)
        return None
    duration = info.get('audio_duration')
    frames = info.get('num_frames') or len(info.get('frame_paths') or ())
    if duration is None or not frames:
        return None
    return float(duration), int(frames)


# ---------------------------------------------------------------------------
# frame sizes
# ---------------------------------------------------------------------------
def pipeline_frame_size(transforms: Sequence[Any]
                        ) -> Tuple[Optional[Size], str]:
    """The ``(h, w)`` of the frames a pipeline outputs, and what sets it.

    The last geometric transform decides: ``ClipResize`` (without
    ``keep_ratio``), ``ClipRandomResizedCrop``, ``ClipCenterCrop`` and
    ``ClipRandomCrop`` give a fixed size; ``ClipResize(keep_ratio=True)``,
    ``ClipShortSideResize`` and no resize at all leave it to the files
    (``None``). Other transforms keep the size.

    Returns:
        tuple: ``((h, w) or None, description of the transform)``.
    """
    size: Optional[Size] = None
    by = 'the frame files (no resize or crop)'
    for t in transforms:
        name = type(t).__name__
        if name in ('ClipResize', 'ClipRandomResizedCrop'):
            w, h = t.scale
            fixed = not getattr(t, 'keep_ratio', False)
            size, by = ((int(h), int(w)) if fixed else None), repr(t)
        elif name in ('ClipCenterCrop', 'ClipRandomCrop'):
            h, w = t.crop_size
            size, by = (int(h), int(w)), f'{name}(crop_size={t.crop_size})'
        elif name == 'ClipShortSideResize':
            size, by = None, f'{name}(short_side={t.short_side})'
    return size, by


def check_frame_sizes(
        loaders: Sequence[Tuple[str, Sequence[Any], int]]) -> str:
    """Frame sizes of the pipelines of a run.

    Args:
        loaders (Sequence[tuple]): ``(where, transforms, batch_size)`` per
            loader, e.g. ``('train_dataloader', [...], 8)``.

    Returns:
        str: what was verified.

    Raises:
        ConsistencyError: a loader stacks several clips of a pipeline whose
            size follows the files, or two pipelines give different sizes.
    """
    sizes: List[Tuple[str, Size, str]] = []
    for where, transforms, batch_size in loaders:
        if not any(type(t).__name__.startswith('LoadClipFrames')
                   for t in transforms):
            continue  # the pipeline reads no frames: nothing to size
        size, by = pipeline_frame_size(transforms)
        if size is None:
            if batch_size > 1:
                raise ConsistencyError(
                    f'{where} stacks {batch_size} clips per batch '
                    f'({where}.batch_size) but its pipeline gives frames of '
                    f'varying size ({by}); end the pipeline with a fixed '
                    'ClipResize / crop or use batch_size=1')
            continue
        for other, osize, oby in sizes:
            if size != osize:
                raise ConsistencyError(
                    f'{other}.dataset.pipeline gives {osize[0]}x{osize[1]} '
                    f'(h x w) frames ({oby}) but {where}.dataset.pipeline '
                    f'gives {size[0]}x{size[1]} ({by}); the model learns at '
                    'the training size and JFMetric compares masks at the '
                    'val / test size: use one frame size')
        sizes.append((where, size, by))
    if not sizes:
        return 'frame size: every pipeline keeps the files\' size (batch 1)'
    h, w = sizes[0][1]
    return (f'frame size: {h}x{w} (h x w) from '
            f'{", ".join(s[0] for s in sizes)}')


# ---------------------------------------------------------------------------
# save_best
# ---------------------------------------------------------------------------
def _evaluator_keys(evaluator: Any) -> Optional[List[str]]:
    """The evaluator's output keys (with prefixes), or None when a metric
    does not declare them (``metric_names``)."""
    keys = []
    for metric in getattr(evaluator, 'metrics', []):
        names = getattr(metric, 'metric_names', None)
        if names is None:
            return None
        prefix = getattr(metric, 'prefix', None)
        keys += [f'{prefix}/{k}' if prefix else k for k in names]
    return keys


def _inferred_rule(hook: CheckpointHook, key: str) -> Optional[str]:
    """The rule MMEngine's ``CheckpointHook`` infers for ``key``."""
    low = key.lower()
    greater = {k.lower() for k in hook.greater_keys}
    less = {k.lower() for k in hook.less_keys}
    if low in greater:
        return 'greater'
    if low in less:
        return 'less'
    if any(k in low for k in greater):
        return 'greater'
    if any(k in low for k in less):
        return 'less'
    return None


def check_save_best(hook: Optional[CheckpointHook], evaluator: Any,
                    where: str = 'val_evaluator') -> str:
    """``save_best`` of the checkpoint hook against the evaluator's keys.

    Args:
        hook (CheckpointHook, optional): the runner's checkpoint hook.
        evaluator: the validation evaluator (its metrics' ``metric_names``
            and ``prefix``).
        where (str): how the evaluator is named in messages.

    Returns:
        str: what was verified.

    Raises:
        ConsistencyError: a key that the evaluator does not output, or
            ``'auto'`` / a key without ``rule`` whose direction MMEngine
            cannot infer.
    """
    if hook is None or not getattr(hook, 'save_best', None):
        return 'save_best: off (no best checkpoint is kept)'
    keys = _evaluator_keys(evaluator)
    if keys is None:
        names = [type(m).__name__ for m in getattr(evaluator, 'metrics', [])]
        print_log(
            f'save_best={hook.save_best} not checked before training: a '
            f'metric of {where} ({names}) does not declare its keys '
            '(metric_names); the first validation checks it',
            logger='current', level=logging.WARNING)
        return f'save_best: {hook.save_best} (keys of {names} unknown)'
    rules = list(hook.rules) if len(hook.rules) == len(hook.save_best) \
        else list(hook.rules) * len(hook.save_best)
    side = 'default_hooks.checkpoint'
    checked = []
    for key, rule in zip(hook.save_best, rules):
        if key == 'auto':
            if not keys:
                raise ConsistencyError(
                    f"{side}.save_best='auto' takes the first key of "
                    f'{where}, which outputs none')
            key = keys[0]
            if rule is None and _inferred_rule(hook, key) is None:
                raise ConsistencyError(
                    f"{side}.save_best='auto' takes the first key of "
                    f'{where}, {key!r} (keys: {keys}), and MMEngine cannot '
                    f'infer whether a higher {key!r} is better; name the '
                    f"key and its rule, e.g. save_best='J&F', "
                    "rule='greater'")
        elif key not in keys:
            raise ConsistencyError(
                f'{side}.save_best={key!r} is not a key of {where}, which '
                f'outputs {keys}; use one of them (with the metric prefix)')
        checked.append(f'{key!r} ({rule or _inferred_rule(hook, key)})')
    return f'save_best: {", ".join(checked)} among the keys of {where}'


# ---------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------
def _checkpoint_hook(runner: Any) -> Optional[CheckpointHook]:
    for hook in runner.hooks:
        if isinstance(hook, CheckpointHook):
            return hook
    return None


def _cfg_pipeline(runner: Any, key: str) -> Tuple[List[Any], int]:
    """Built transforms and batch size of a loader that is only a config."""
    from mmengine.dataset import Compose
    loader = runner.cfg.get(key) or {}
    dataset = loader.get('dataset') or {}
    while isinstance(dataset, dict) and 'pipeline' not in dataset and \
            'dataset' in dataset:
        dataset = dataset['dataset']
    pipeline = dataset.get('pipeline', []) if isinstance(dataset,
                                                         dict) else []
    return list(Compose(pipeline).transforms), int(
        loader.get('batch_size', 1))


def _metrics(evaluator: Any) -> List[Any]:
    return list(getattr(evaluator, 'metrics', []))


#: names of the checks (for ``skip``)
CHECKS = ('classes', 'metric', 'bank', 'audio', 'frame_size', 'save_best')


def run_consistency_checks(runner: Any, stage: str = 'train',
                           skip: Sequence[str] = ()) -> List[str]:
    """Run every check on the parts of an MMEngine runner.

    Args:
        runner (Runner): a runner whose loops of ``stage`` are built
            (``before_train`` / ``before_test``).
        stage (str): ``'train'`` (train and val data, model, val evaluator,
            checkpoint hook; the test pipeline from the config) or
            ``'test'`` (test data and evaluator).
        skip (Sequence[str]): checks not to run (names in ``CHECKS``); each
            is reported as skipped.

    Returns:
        list[str]: one line per verified (or skipped) item.

    Raises:
        ConsistencyError: the first mismatch found.
    """
    if stage not in ('train', 'test'):
        raise ValueError(f"stage must be 'train' or 'test', got {stage!r}")
    unknown = sorted(set(skip) - set(CHECKS))
    if unknown:
        raise ValueError(f'unknown checks to skip {unknown}; the checks '
                         f'are {CHECKS}')
    report = [f'{name}: skipped (skip={list(skip)})' for name in CHECKS
              if name in skip]
    model = _unwrap(runner.model)
    config = getattr(runner.cfg, 'filename', None) or ''
    has_classes = all(hasattr(model, a) for a in ('mask_mode',
                                                  'num_classes'))

    def wanted(name: str) -> bool:
        # a model that is not an AVS segmentor (no classes / mask mode)
        # only gets the checks that do not read its parts
        return name not in skip and (has_classes or name not in (
            'classes', 'metric', 'bank', 'audio'))
    if stage == 'train':
        data = [('train_dataloader.dataset', runner.train_dataloader)]
        if runner.val_loop is not None:
            data.append(('val_dataloader.dataset', runner.val_dataloader))
        evaluators = [('val_evaluator', runner.val_loop.evaluator)] \
            if runner.val_loop is not None else []
    else:
        data = [('test_dataloader.dataset', runner.test_dataloader)]
        evaluators = [('test_evaluator', runner.test_loop.evaluator)]
    for where, loader in data:
        dataset = loader.dataset
        if wanted('classes'):
            report.append(check_classes(model, dataset, where, config))
        if wanted('bank'):
            report.append(check_bank(model, dataset, where, config))
        if wanted('audio'):
            report.append(check_audio(model, dataset, where, config))
    if wanted('metric'):
        for where, evaluator in evaluators:
            for metric in _metrics(evaluator):
                report.append(check_metric(model, metric, where, config))
    if wanted('frame_size'):
        sizes = [(where.split('.')[0], _transforms(loader.dataset),
                  int(loader.batch_size or 1)) for where, loader in data]
        if stage == 'train' and runner.cfg.get('test_dataloader'):
            transforms, batch = _cfg_pipeline(runner, 'test_dataloader')
            sizes.append(('test_dataloader', transforms, batch))
        report.append(check_frame_sizes(sizes))
    if wanted('save_best') and stage == 'train' and evaluators:
        report.append(check_save_best(_checkpoint_hook(runner),
                                      evaluators[0][1]))
    return report
