"""Prototype memory bank M of DDAVS (Sec. 3.1, appendix B).

The bank is a fixed ``[P, d]`` matrix of class prototypes (K-means centroids
of single-source audio embeddings, ``P = Σ_i K_i``) with the class id of each
row. It is never trained.

Storage decision: ``prototypes`` and ``class_ids`` are *persistent* buffers.
Buffers are not parameters, so no optimizer sees them and no gradient reaches
them, and they move with ``.to(device)``; being persistent, they are written
into every checkpoint, so a trained model carries the exact bank it was
trained with (a checkpoint whose bank shape differs from the configured one
fails loudly in ``load_state_dict``).

File formats read by :func:`load_bank` / written by :func:`save_bank`:

* ``.npy``: DDESeg's layout ``[C, K, d]`` (e.g. ``1s_k5_feabank.npy``); the
  rows are flattened class-major and class ``c`` gets id ``c``. A 2-D
  ``[P, d]`` array is accepted too (class ids unknown → -1).
* ``.npz``: arrays ``prototypes [P, d]``, ``class_ids [P]`` and optionally
  ``real [P]`` (bool), ``class_names`` (str array) and ``build_info`` (a
  JSON string).
* ``.pt`` / ``.pth``: a dict with ``prototypes`` (Tensor ``[P, d]``),
  ``class_ids`` (Tensor ``[P]``), optionally ``real`` (bool Tensor ``[P]``),
  ``class_names`` (list of str) and ``build_info`` (dict of plain values);
  read with ``weights_only=True``.

``real`` tells a real prototype (a feature of its class) from a duplicate
that pads a class with too few features to the bank's K; the number of real
prototypes of class ``c`` is ``real[class_ids == c].sum()``. Without it
(``.npy``, older files) every row is real.
"""
import json
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS

BANK_SUFFIXES = ('.npy', '.npz', '.pt', '.pth')


def _check_bank_arrays(prototypes: torch.Tensor, class_ids: torch.Tensor,
                       source: str) -> None:
    if prototypes.dim() != 2 or prototypes.shape[0] == 0 or \
            prototypes.shape[1] == 0:
        raise ValueError(f'prototype bank {source}: prototypes must be a '
                         f'non-empty [P, d] array, got '
                         f'{tuple(prototypes.shape)}')
    if class_ids.dim() != 1 or class_ids.shape[0] != prototypes.shape[0]:
        raise ValueError(f'prototype bank {source}: class_ids must be [P] = '
                         f'[{prototypes.shape[0]}], got '
                         f'{tuple(class_ids.shape)}')
    if not torch.isfinite(prototypes).all():
        raise ValueError(f'prototype bank {source}: prototypes contain NaN '
                         'or Inf')


def load_bank(path: str) -> Dict[str, Any]:
    """Read a bank file.

    Args:
        path (str): ``.npy`` / ``.npz`` / ``.pt`` / ``.pth`` file.

    Returns:
        dict: ``prototypes`` float32 Tensor ``[P, d]``, ``class_ids`` int64
        Tensor ``[P]``, ``real`` bool Tensor ``[P]``, ``class_names`` (list
        of str or None) and ``build_info`` (dict).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown suffix, missing keys, bad shapes, NaN/Inf.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'prototype bank file not found: {path!r}. Build it with the '
            'bank builder, fix the path, or set `bank=None` in '
            'AudioQueryModule to run without a bank (baseline / +AVAM '
            'ablations).')
    suffix = osp.splitext(path)[1].lower()
    class_names: Optional[List[str]] = None
    build_info: Dict[str, Any] = {}
    real = None
    try:
        if suffix == '.npy':
            arr = np.load(path, allow_pickle=False)
            if arr.ndim == 3:
                c, k, d = arr.shape
                prototypes = torch.from_numpy(
                    np.ascontiguousarray(arr.reshape(c * k, d)))
                class_ids = torch.arange(c).repeat_interleave(k)
            elif arr.ndim == 2:
                prototypes = torch.from_numpy(np.ascontiguousarray(arr))
                class_ids = torch.full((arr.shape[0], ), -1,
                                       dtype=torch.long)
            else:
                raise ValueError(f'prototype bank {path!r}: .npy must be '
                                 f'[C, K, d] or [P, d], got {arr.shape}')
        elif suffix == '.npz':
            with np.load(path, allow_pickle=False) as z:
                missing = {'prototypes', 'class_ids'} - set(z.files)
                if missing:
                    raise ValueError(f'prototype bank {path!r}: missing '
                                     f'arrays {sorted(missing)}')
                prototypes = torch.from_numpy(np.array(z['prototypes']))
                class_ids = torch.from_numpy(np.array(z['class_ids']))
                if 'real' in z.files:
                    real = torch.from_numpy(np.array(z['real']))
                if 'class_names' in z.files:
                    class_names = [str(s) for s in z['class_names'].tolist()]
                if 'build_info' in z.files:
                    build_info = json.loads(str(z['build_info']))
        elif suffix in ('.pt', '.pth'):
            obj = torch.load(path, map_location='cpu', weights_only=True)
            if not isinstance(obj, dict):
                raise ValueError(f'prototype bank {path!r}: expected a dict, '
                                 f'got {type(obj).__name__}')
            missing = {'prototypes', 'class_ids'} - set(obj)
            if missing:
                raise ValueError(f'prototype bank {path!r}: missing keys '
                                 f'{sorted(missing)}')
            prototypes = torch.as_tensor(obj['prototypes'])
            class_ids = torch.as_tensor(obj['class_ids'])
            if obj.get('real') is not None:
                real = torch.as_tensor(obj['real'])
            if obj.get('class_names') is not None:
                class_names = [str(s) for s in obj['class_names']]
            build_info = dict(obj.get('build_info') or {})
        else:
            raise ValueError(f'prototype bank {path!r}: unknown suffix '
                             f'{suffix!r}; expected one of {BANK_SUFFIXES}')
    except (OSError, EOFError, ValueError, RuntimeError, KeyError,
            pickle.UnpicklingError, zipfile.BadZipFile) as e:  # corrupt file
        if repr(path) in str(e):  # our own message already names the file
            raise
        raise ValueError(f'prototype bank {path!r} cannot be read: {e}') from e
    prototypes = prototypes.float()
    class_ids = class_ids.long()
    _check_bank_arrays(prototypes, class_ids, repr(path))
    if real is None:
        real = torch.ones(class_ids.shape, dtype=torch.bool)
    elif real.dtype != torch.bool or real.shape != class_ids.shape:
        raise ValueError(f'prototype bank {path!r}: real must be a bool '
                         f'[P] = [{class_ids.shape[0]}] array, got '
                         f'{real.dtype} {tuple(real.shape)}')
    return dict(
        prototypes=prototypes,
        class_ids=class_ids,
        real=real,
        class_names=class_names,
        build_info=build_info)


def save_bank(path: str,
              prototypes: Union[torch.Tensor, np.ndarray],
              class_ids: Union[torch.Tensor, np.ndarray, Sequence[int]],
              class_names: Optional[Sequence[str]] = None,
              build_info: Optional[Dict[str, Any]] = None,
              real: Optional[Union[torch.Tensor, np.ndarray,
                                   Sequence[bool]]] = None) -> str:
    """Write a bank file readable by :class:`PrototypeBank`.

    Args:
        path (str): output file; the suffix picks the format (``.pt``/
            ``.pth``, ``.npz`` or ``.npy``). ``.npy`` stores DDESeg's
            ``[C, K, d]`` layout and so needs class ids ``0..C-1`` in
            class-major order with the same K per class; names and build
            info are lost.
        prototypes: ``[P, d]`` float.
        class_ids: ``[P]`` int, the class of each prototype.
        class_names (Sequence[str], optional): names indexed by class id.
        build_info (dict, optional): JSON-serialisable description of how
            the bank was built (encoder, checkpoint, K, data, seed...).
        real (optional): ``[P]`` bool, False for a duplicated row; defaults
            to all True. ``.npy`` cannot record it and refuses duplicates.

    Returns:
        str: ``path``.
    """
    prototypes = torch.as_tensor(np.asarray(prototypes)
                                 if not isinstance(prototypes, torch.Tensor)
                                 else prototypes).detach().cpu().float()
    class_ids = torch.as_tensor(np.asarray(class_ids) if not isinstance(
        class_ids, torch.Tensor) else class_ids).detach().cpu().long()
    _check_bank_arrays(prototypes, class_ids, repr(path))
    real = torch.ones(class_ids.shape, dtype=torch.bool) if real is None \
        else torch.as_tensor(np.asarray(real, dtype=bool))
    if real.shape != class_ids.shape:
        raise ValueError(f'save_bank {path!r}: real must be [P] = '
                         f'[{class_ids.shape[0]}], got {tuple(real.shape)}')
    build_info = dict(build_info or {})
    json.dumps(build_info)  # fail early on non-serialisable info
    names = None if class_names is None else [str(s) for s in class_names]
    suffix = osp.splitext(path)[1].lower()
    dirname = osp.dirname(path)
    if dirname:
        os.makedirs(dirname, exist_ok=True)
    if suffix in ('.pt', '.pth'):
        torch.save(
            dict(prototypes=prototypes, class_ids=class_ids, real=real,
                 class_names=names, build_info=build_info), path)
    elif suffix == '.npz':
        arrays = dict(prototypes=prototypes.numpy(),
                      class_ids=class_ids.numpy(), real=real.numpy(),
                      build_info=np.array(json.dumps(build_info)))
        if names is not None:
            arrays['class_names'] = np.array(names, dtype=str)
        with open(path, 'wb') as f:  # keep the exact file name
            np.savez(f, **arrays)
    elif suffix == '.npy':
        if not bool(real.all()):
            raise ValueError(
                f'save_bank {path!r}: the .npy layout cannot mark the '
                f'{int((~real).sum())} duplicated prototype(s); use .pt or '
                '.npz instead')
        uniq, counts = torch.unique_consecutive(class_ids, return_counts=True)
        c = len(uniq)
        if not (torch.equal(uniq, torch.arange(c)) and
                bool((counts == counts[0]).all())):
            raise ValueError(
                f'save_bank {path!r}: the .npy layout [C, K, d] needs class '
                'ids 0..C-1 in class-major order with equal K per class; use '
                '.pt or .npz instead')
        with open(path, 'wb') as f:
            np.save(f, prototypes.reshape(c, int(counts[0]), -1).numpy())
    else:
        raise ValueError(f'save_bank {path!r}: unknown suffix {suffix!r}; '
                         f'expected one of {BANK_SUFFIXES}')
    return path


@MODELS.register_module()
class PrototypeBank(BaseModule):
    """Fixed prototype memory bank ``M ∈ R^{P×d}``.

    Args:
        bank_path (str, optional): bank file (see module docstring).
        prototypes (Tensor | array, optional): ``[P, d]`` given directly
            (tests, programmatic use) instead of ``bank_path``.
        class_ids (Tensor | Sequence[int], optional): ``[P]`` for
            ``prototypes``; defaults to -1 (unknown).
        embed_dims (int, optional): expected d; a mismatch raises.
        normalize (bool): ℓ2-normalise every prototype at load time.
            Defaults to False (DDESeg keeps raw centroids).
        init_cfg (dict, optional): unused; the bank is never initialised.

    Attributes:
        prototypes (Tensor): buffer ``[P, d]``.
        class_ids (Tensor): buffer ``[P]`` int64.
        real (Tensor): non-persistent buffer ``[P]`` bool, False for a row
            that duplicates a prototype of a class with too few features.
        class_names (list[str] | None), build_info (dict), bank_path (str).
    """

    def __init__(self,
                 bank_path: Optional[str] = None,
                 prototypes: Optional[Union[torch.Tensor, np.ndarray]] = None,
                 class_ids: Optional[Sequence[int]] = None,
                 embed_dims: Optional[int] = None,
                 normalize: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if (bank_path is None) == (prototypes is None):
            raise ValueError(
                'PrototypeBank needs exactly one of `bank_path` or '
                '`prototypes`; to run without a bank set `bank=None` in '
                'AudioQueryModule.')
        if bank_path is not None:
            data = load_bank(bank_path)
            source = repr(bank_path)
        else:
            protos = torch.as_tensor(np.asarray(prototypes) if not isinstance(
                prototypes, torch.Tensor) else prototypes).detach().float()
            ids = torch.full((protos.shape[0] if protos.dim() else 0, ), -1,
                             dtype=torch.long) if class_ids is None else \
                torch.as_tensor(class_ids).long()
            _check_bank_arrays(protos, ids, '(given tensor)')
            data = dict(prototypes=protos, class_ids=ids, class_names=None,
                        build_info={}, real=torch.ones_like(ids, dtype=bool))
            source = '(given tensor)'
        protos = data['prototypes'].clone()
        if normalize:
            protos = torch.nn.functional.normalize(protos, dim=-1)
        self.bank_path = bank_path
        self.source = source
        self.class_names = data['class_names']
        self.build_info = data['build_info']
        self.register_buffer('prototypes', protos, persistent=True)
        self.register_buffer(
            'class_ids', data['class_ids'].clone(), persistent=True)
        # not in checkpoints: older ones lack it, the bank file holds it
        self.register_buffer('real', data['real'].clone(), persistent=False)
        if embed_dims is not None:
            self.check_dims(embed_dims)

    @property
    def num_prototypes(self) -> int:
        """P."""
        return self.prototypes.shape[0]

    @property
    def real_prototypes_per_class(self) -> Dict[int, int]:
        """Real (not duplicated) prototypes of each class id."""
        ids, counts = torch.unique(self.class_ids[self.real],
                                   return_counts=True)
        out = {int(c): 0 for c in torch.unique(self.class_ids)}
        out.update({int(c): int(n) for c, n in zip(ids, counts)})
        return out

    @property
    def embed_dims(self) -> int:
        """d."""
        return self.prototypes.shape[1]

    def check_dims(self, embed_dims: int, what: str = 'the model') -> None:
        """Raise ``ValueError`` unless the bank width equals ``embed_dims``."""
        if self.embed_dims != embed_dims:
            raise ValueError(
                f'prototype bank {self.source} has d={self.embed_dims} '
                f'(shape {tuple(self.prototypes.shape)}) but {what} expects '
                f'd={embed_dims}; rebuild the bank with the same audio '
                'encoder as the model')

    def forward(self) -> torch.Tensor:
        """Return the bank ``[P, d]`` (a buffer, never requiring grad)."""
        return self.prototypes

    def extra_repr(self) -> str:
        return (f'P={self.num_prototypes}, d={self.embed_dims}, '
                f'source={self.source}')
