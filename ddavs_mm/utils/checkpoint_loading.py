"""Read checkpoints safely and load them strictly: the one place for both.

Used by ``tools/test.py`` and ``tools/train.py`` (``load_from`` and resume,
through :class:`~ddavs_mm.engine.StrictLoadRunner`),
:func:`ddavs_mm.apis.init_model` (so the demo) and the ``Pretrained``
weight initialiser of the ``ddavs_mm`` scope
(:class:`~ddavs_mm.engine.StrictPretrainedInit`).

Reading (:func:`read_checkpoint`) goes through MMEngine's
``CheckpointLoader``, whose loaders DDAVS-MM makes pass
``weights_only=True`` (:mod:`ddavs_mm.utils.checkpoint_safety`). A file
that is missing, empty, truncated, not a checkpoint, or that holds pickled
code raises :class:`CheckpointError` naming the file.

Loading (:func:`load_state_dict_checked`) compares the file's
``state_dict`` with the model's, key by key. *Missing* keys (in the model,
not in the file), *unexpected* keys (in the file, not in the model) and
*mis-shaped* keys are an error by default, naming the file and the first
offending keys. With ``strict=False`` whatever fits is loaded and a table
of what did not load is logged. ``ignore_missing`` / ``ignore_unexpected``
(regular expressions matched at the start of a key) declare a documented
partial load, e.g. a pretraining file without the classifier it was
trained with.
"""
import logging
import pickle
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from .tool_errors import InputError

#: key renames applied to every file, as MMEngine does (DDP's ``module.``)
DEFAULT_REVISE_KEYS = ((r'^module\.', ''), )
#: how many offending keys an error message names per kind
NUM_KEYS_SHOWN = 3
_REFUSED_GLOBAL = re.compile(r'GLOBAL ([\w.]+)')


class CheckpointError(InputError):
    """A checkpoint file that cannot be read or does not fit the model."""


@dataclass
class LoadReport:
    """What a checkpoint gave a model, key by key.

    Attributes:
        path (str): the checkpoint file.
        loaded (list[str]): keys copied into the model.
        missing (list[str]): model keys the file lacks.
        unexpected (list[str]): file keys the model lacks.
        mismatched (list[tuple]): ``(key, shape in file, shape in model)``.
        ignored (list[str]): missing or unexpected keys that an
            ``ignore_*`` pattern declared fine.
    """
    path: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing but declared (ignored) keys failed to load."""
        return not (self.missing or self.unexpected or self.mismatched)

    def problem(self) -> str:
        """``'2 missing (a, b), 1 mis-shaped (c: [2] in file, [3] in
        model)'``: the first :data:`NUM_KEYS_SHOWN` keys of each kind."""

        def few(keys):
            more = len(keys) - NUM_KEYS_SHOWN
            text = ', '.join(keys[:NUM_KEYS_SHOWN])
            return text + (f', ... {more} more' if more > 0 else '')

        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} missing ({few(self.missing)})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} unexpected '
                         f'({few(self.unexpected)})')
        if self.mismatched:
            shown = [f'{k}: {list(a)} in file, {list(b)} in model'
                     for k, a, b in self.mismatched]
            parts.append(f'{len(shown)} mis-shaped ({few(shown)})')
        return ', '.join(parts)

    def table(self) -> str:
        """A text table of every key that did not load."""
        rows = [(k, 'missing in file', '', '') for k in self.missing]
        rows += [(k, 'unexpected (not in model)', '', '')
                 for k in self.unexpected]
        rows += [(k, 'shape mismatch', str(list(a)), str(list(b)))
                 for k, a, b in self.mismatched]
        header = ('key', 'problem', 'file shape', 'model shape')
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]

        def line(row):
            return '| ' + ' | '.join(
                c.ljust(w) for c, w in zip(row, widths)) + ' |'

        rule = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
        return '\n'.join([line(header), rule] + [line(r) for r in rows])


def _unreadable(path: str, why: str) -> CheckpointError:
    return CheckpointError(
        path, f'is not a readable PyTorch checkpoint ({why})',
        'the file is truncated or not a checkpoint: use another copy')


def read_checkpoint(filename: str, map_location='cpu') -> dict:
    """Read a checkpoint file with ``weights_only=True``.

    Args:
        filename (str): a local path or any URI MMEngine reads
            (``http(s)://``, ``s3://``, ``open-mmlab://`` ...).
        map_location: as for :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        dict: the checkpoint (a ``state_dict`` alone is returned as is).

    Raises:
        CheckpointError: the file is missing, a directory, empty, truncated
            or not a checkpoint, or holds pickled objects that
            ``weights_only`` refuses (which would run code).
    """
    import os.path as osp

    from mmengine.runner.checkpoint import _load_checkpoint

    filename = str(filename)
    if '://' not in filename:
        if not osp.exists(filename):
            raise CheckpointError(filename, 'no such checkpoint file',
                                  'check the path')
        if osp.isdir(filename):
            raise CheckpointError(filename, 'is a directory',
                                  'pass the checkpoint file inside it')
        if osp.getsize(filename) == 0:
            raise CheckpointError(
                filename, 'is empty (0 bytes)',
                'its writing was interrupted: use another checkpoint')
    try:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    except pickle.UnpicklingError as e:
        refused = _REFUSED_GLOBAL.search(str(e))
        if refused is None:
            raise _unreadable(filename, 'invalid pickle data') from e
        raise CheckpointError(
            filename, f'holds a pickled {refused.group(1)} that '
            f'weights-only loading refuses (unpickling it could run code)',
            'load only files you trust; DDAVS-MM never unpickles code: '
            'save plain tensors, e.g. torch.save({"state_dict": '
            'model.state_dict()}, path)') from e
    except (EOFError, zipfile.BadZipFile, RuntimeError, KeyError,
            ValueError, IndexError, UnicodeDecodeError) as e:
        why = str(e).strip().splitlines()[0] if str(e).strip() else \
            type(e).__name__
        raise _unreadable(filename, why) from e
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            filename, f'holds a {type(checkpoint).__name__}, not a '
            f'checkpoint dict', 'save a dict with a "state_dict" entry')
    return checkpoint


def checkpoint_state_dict(checkpoint: dict, path: str,
                          prefix: Optional[str] = None,
                          revise_keys: Sequence[Tuple[str, str]] =
                          DEFAULT_REVISE_KEYS) -> Dict[str, torch.Tensor]:
    """The tensors of a checkpoint, keys revised and ``prefix`` selected.

    Args:
        checkpoint (dict): as read by :func:`read_checkpoint`.
        path (str): its file, for error messages.
        prefix (str, optional): keep only keys starting with it, stripped
            (``'backbone.'`` loads a backbone from a whole-model file).
        revise_keys (sequence): ``(pattern, replacement)`` regex renames.

    Returns:
        dict: key -> tensor.
    """
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        raise CheckpointError(path, 'its "state_dict" is a '
                              f'{type(state).__name__}, not a dict',
                              'save model.state_dict()')
    for pattern, repl in revise_keys:
        state = OrderedDict(
            (re.sub(pattern, repl, k), v) for k, v in state.items())
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items()
                            if k.startswith(prefix))
        if not state:
            raise CheckpointError(
                path, f'has no key starting with {prefix!r}',
                'check the prefix of the init_cfg')
    tensors = OrderedDict(
        (k, v) for k, v in state.items() if isinstance(v, torch.Tensor))
    if not tensors:
        raise CheckpointError(path, 'holds no tensors',
                              'is it a checkpoint of a model?')
    return tensors


def compare_state_dict(model: nn.Module, state: Dict[str, torch.Tensor],
                       path: str, ignore_missing: Sequence[str] = (),
                       ignore_unexpected: Sequence[str] = ()) -> LoadReport:
    """Compare a state dict with a model's, key by key (loads nothing).

    Args:
        model (nn.Module): the target.
        state (dict): key -> tensor.
        path (str): the file, recorded in the report.
        ignore_missing (sequence[str]): regexes (``re.match``) of model
            keys the file may lack.
        ignore_unexpected (sequence[str]): regexes of file keys the model
            may lack.

    Returns:
        LoadReport: the comparison.
    """
    own = model.state_dict()
    report = LoadReport(path=path)

    def declared(key, patterns):
        return any(re.match(p, key) for p in patterns)

    for key, value in state.items():
        if key not in own:
            (report.ignored if declared(key, ignore_unexpected) else
             report.unexpected).append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(
                (key, tuple(value.shape), tuple(own[key].shape)))
        else:
            report.loaded.append(key)
    for key in own:
        if key not in state:
            (report.ignored if declared(key, ignore_missing) else
             report.missing).append(key)
    return report


def load_state_dict_checked(model: nn.Module,
                            checkpoint: dict,
                            path: str,
                            strict: bool = True,
                            prefix: Optional[str] = None,
                            ignore_missing: Sequence[str] = (),
                            ignore_unexpected: Sequence[str] = (),
                            revise_keys: Sequence[Tuple[str, str]] =
                            DEFAULT_REVISE_KEYS,
                            hint: Optional[str] = None) -> LoadReport:
    """Load a checkpoint's weights into a model, strictly by default.

    Args:
        model (nn.Module): the target (a DDP wrapper is unwrapped).
        checkpoint (dict): as read by :func:`read_checkpoint`.
        path (str): its file, named in errors and the log.
        strict (bool): raise on any missing, unexpected or mis-shaped key
            not declared by ``ignore_*``. False: load what fits and log a
            table of the rest. Defaults to True.
        prefix (str, optional): see :func:`checkpoint_state_dict`.
        ignore_missing (sequence[str]): see :func:`compare_state_dict`.
        ignore_unexpected (sequence[str]): see :func:`compare_state_dict`.
        revise_keys (sequence): see :func:`checkpoint_state_dict`.
        hint (str, optional): what the error tells the user to do; default
            names ``strict=False``.

    Returns:
        LoadReport: what loaded and what did not.

    Raises:
        CheckpointError: ``strict`` and the file does not fit the model.
    """
    from mmengine.model import is_model_wrapper
    if is_model_wrapper(model):
        model = model.module
    state = checkpoint_state_dict(checkpoint, path, prefix, revise_keys)
    report = compare_state_dict(model, state, path, ignore_missing,
                                ignore_unexpected)
    if not report.complete:
        if strict:
            raise CheckpointError(
                path, f'does not fit the model: {report.problem()}',
                hint or 'use the checkpoint of this config, or pass '
                'strict=False to load only the keys that fit')
        print_log(
            f'{path}: {len(report.loaded)} of {len(model.state_dict())} '
            f'model tensors loaded; not loaded:\n{report.table()}',
            logger='current', level=logging.WARNING)
    model.load_state_dict(
        OrderedDict((k, state[k]) for k in report.loaded), strict=False)
    return report
