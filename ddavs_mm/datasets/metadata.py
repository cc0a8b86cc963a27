"""Metadata rows of AVSBench (S4, MS3, AVSS) and VPO, and their CSV readers.

Every reader validates every row. A malformed row raises ``ValueError`` whose
message names the CSV file, the line number (1-based, the header is line 1)
and the problem; nothing is skipped silently.

Column conventions (see ``/work/shared/notes/field-facts.md``):

* S4 ``s4_meta_data.csv``: ``name``, start time, ``category``, ``split``.
  Columns are read by header name when the header has ``name``,
  ``category`` and ``split``; otherwise by positions 0 / 2 / 3 (a first row
  whose fourth field is not a split name is taken as a header).
* MS3 ``ms3_meta_data.csv``: the clip id is the *first column by position*
  (its header name is not relied on), plus a ``split`` column.
* AVSS ``metadata.csv``: ``vid, uid, s_min, s_max, a_obj, split, label``;
  ``label`` is the subset folder (``v1s``, ``v1m`` or ``v2``).
* VPO ``vpo_{ss,ms,msmi}_data_stereo.csv``: ``cateName, img_Id, ann_Ids,
  cateId, vgg_file, split`` (+ ``multi_instance`` for MSMI). ``ann_Ids`` may
  hold several integer ids (any non-digit separator, e.g. ``"12 34"``,
  ``"[12, 34]"``, ``"12_34"``). The CSV ``split`` values are kept as written
  (``train`` / ``val`` / ``test``); the mapping to dataset splits lives in
  :data:`VPO_SPLIT_MAP`.
"""
import csv
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

SPLITS = ('train', 'val', 'test')
AVSS_SUBSETS = ('v1s', 'v1m', 'v2')

#: Which CSV ``split`` values of VPO form each dataset split. CAVP (the VPO
#: authors' code) renames the CSV's ``val`` rows to ``test`` and evaluates on
#: them; VPO has no separate validation set, so our ``val`` split (used for
#: validation during training) is the same rows. ``test`` rows, if a CSV has
#: any, also count as test.
VPO_SPLIT_MAP: Dict[str, Tuple[str, ...]] = {
    'train': ('train', ),
    'val': ('val', 'test'),
    'test': ('val', 'test'),
}


@dataclass(frozen=True)
class S4Row:
    """One row of ``s4_meta_data.csv`` (a 5-second single-source clip)."""
    name: str
    category: str
    split: str
    line: int = 0


@dataclass(frozen=True)
class MS3Row:
    """One row of ``ms3_meta_data.csv`` (a 5-second multi-source clip)."""
    name: str
    split: str
    line: int = 0


@dataclass(frozen=True)
class AVSSRow:
    """One row of AVSBench-semantic ``metadata.csv``."""
    vid: str
    uid: str
    s_min: float
    s_max: float
    a_obj: str
    split: str
    label: str
    line: int = 0


@dataclass(frozen=True)
class VPORow:
    """One row of a VPO CSV: one sounding object class in one COCO image.

    Attributes:
        cate_name (str): VPO class name (e.g. ``'dog'``).
        img_id (int): COCO image id.
        ann_ids (tuple[int]): COCO annotation ids of this row's instances.
        cate_id (int): COCO category id (92/93/94 are VPO's
            male/female/baby); it is the pixel value in VPO's semantic masks.
        vgg_file (str): VGGSound clip name (wav file stem).
        split (str): the CSV's split value (see :data:`VPO_SPLIT_MAP`).
        multi_instance (int | None): MSMI only; 0 means the row belongs to
            VPO-MS (its files live in the VPO-MS folder).
    """
    cate_name: str
    img_id: int
    ann_ids: Tuple[int, ...]
    cate_id: int
    vgg_file: str
    split: str
    multi_instance: Optional[int] = None
    line: int = 0


def _fail(path: str, line: int, problem: str) -> None:
    raise ValueError(f'Malformed metadata row in {path}, line {line}: '
                     f'{problem}')


def _read_rows(path: str) -> List[Tuple[int, List[str]]]:
    """Read a CSV file into ``(line_number, fields)`` pairs, blank lines
    dropped."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Metadata CSV not found: {path}')
    rows = []
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.reader(f)
        try:
            for fields in reader:
                if not fields or all(not x.strip() for x in fields):
                    continue
                rows.append((reader.line_num, [x.strip() for x in fields]))
        except csv.Error as e:
            raise ValueError(f'Malformed metadata CSV {path}, line '
                             f'{reader.line_num}: {e}') from e
    if not rows:
        raise ValueError(f'Metadata CSV {path} is empty')
    return rows


def _header_index(header: Sequence[str], names: Sequence[str], path: str,
                  line: int) -> Dict[str, int]:
    index = {}
    for name in names:
        if name not in header:
            _fail(path, line, f'header lacks column "{name}" (header: '
                  f'{list(header)})')
        index[name] = list(header).index(name)
    return index


def _get(fields: List[str], idx: int, col: str, path: str, line: int,
         allow_empty: bool = False) -> str:
    if idx >= len(fields):
        _fail(path, line, f'missing column "{col}" (row has {len(fields)} '
              f'fields: {fields})')
    value = fields[idx]
    if not value and not allow_empty:
        _fail(path, line, f'empty value in column "{col}"')
    return value


def _check_split(split: str, path: str, line: int) -> str:
    if split not in SPLITS:
        _fail(path, line, f'split "{split}" is not one of {SPLITS}')
    return split


def _to_int(value: str, col: str, path: str, line: int) -> int:
    try:
        f = float(value)
    except ValueError:
        _fail(path, line, f'column "{col}" must be an integer, got '
              f'"{value}"')
    if f != int(f):
        _fail(path, line, f'column "{col}" must be an integer, got '
              f'"{value}"')
    return int(f)


def _to_float(value: str, col: str, path: str, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        _fail(path, line, f'column "{col}" must be a number, got "{value}"')


def _check_unique(keys: List[Tuple[str, int]], what: str, path: str) -> None:
    seen: Dict[str, int] = {}
    for key, line in keys:
        if key in seen:
            _fail(path, line, f'duplicate {what} "{key}" (first on line '
                  f'{seen[key]})')
        seen[key] = line


def read_s4_csv(path: str) -> List[S4Row]:
    """Read ``s4_meta_data.csv``.

    Args:
        path (str): CSV path.

    Returns:
        list[S4Row]: one row per clip, in file order.
    """
    rows = _read_rows(path)
    first_line, first = rows[0]
    if all(k in first for k in ('name', 'category', 'split')):
        idx = _header_index(first, ('name', 'category', 'split'), path,
                            first_line)
        body = rows[1:]
    else:
        idx = dict(name=0, category=2, split=3)
        is_data = len(first) > 3 and first[3] in SPLITS
        body = rows if is_data else rows[1:]
    out = []
    for line, fields in body:
        name = _get(fields, idx['name'], 'name', path, line)
        category = _get(fields, idx['category'], 'category', path, line)
        split = _check_split(
            _get(fields, idx['split'], 'split', path, line), path, line)
        out.append(S4Row(name, category, split, line))
    _check_unique([(r.name, r.line) for r in out], 'clip name', path)
    return out


def read_ms3_csv(path: str) -> List[MS3Row]:
    """Read ``ms3_meta_data.csv`` (clip id = first column by position).

    Args:
        path (str): CSV path.

    Returns:
        list[MS3Row]: one row per clip, in file order.
    """
    rows = _read_rows(path)
    header_line, header = rows[0]
    idx = _header_index(header, ('split', ), path, header_line)
    out = []
    for line, fields in rows[1:]:
        name = _get(fields, 0, header[0] or 'first column', path, line)
        split = _check_split(
            _get(fields, idx['split'], 'split', path, line), path, line)
        out.append(MS3Row(name, split, line))
    _check_unique([(r.name, r.line) for r in out], 'clip id', path)
    return out


def read_avss_csv(path: str) -> List[AVSSRow]:
    """Read AVSBench-semantic ``metadata.csv``.

    Args:
        path (str): CSV path.

    Returns:
        list[AVSSRow]: one row per clip, in file order.
    """
    cols = ('vid', 'uid', 's_min', 's_max', 'a_obj', 'split', 'label')
    rows = _read_rows(path)
    header_line, header = rows[0]
    idx = _header_index(header, cols, path, header_line)
    out = []
    for line, fields in rows[1:]:
        vid = _get(fields, idx['vid'], 'vid', path, line)
        uid = _get(fields, idx['uid'], 'uid', path, line)
        s_min = _to_float(
            _get(fields, idx['s_min'], 's_min', path, line), 's_min', path,
            line)
        s_max = _to_float(
            _get(fields, idx['s_max'], 's_max', path, line), 's_max', path,
            line)
        if s_max < s_min:
            _fail(path, line, f's_max ({s_max}) < s_min ({s_min})')
        a_obj = _get(fields, idx['a_obj'], 'a_obj', path, line,
                     allow_empty=True)
        split = _check_split(
            _get(fields, idx['split'], 'split', path, line), path, line)
        label = _get(fields, idx['label'], 'label', path, line)
        if label not in AVSS_SUBSETS:
            _fail(path, line, f'label "{label}" is not one of '
                  f'{AVSS_SUBSETS}')
        out.append(AVSSRow(vid, uid, s_min, s_max, a_obj, split, label, line))
    _check_unique([(r.uid, r.line) for r in out], 'uid', path)
    return out


def parse_ann_ids(value: str) -> Tuple[int, ...]:
    """Parse an ``ann_Ids`` cell holding one or several integer ids.

    Args:
        value (str): e.g. ``'123'``, ``'123 456'``, ``'[123, 456]'``.

    Returns:
        tuple[int]: the ids (empty if the cell has no digits).
    """
    return tuple(int(x) for x in re.findall(r'\d+', value))


def read_vpo_csv(path: str,
                 classes: Optional[Sequence[str]] = None,
                 require_multi_instance: bool = False) -> List[VPORow]:
    """Read a VPO CSV (``vpo_{ss,ms,msmi}_data_stereo.csv``).

    Args:
        path (str): CSV path.
        classes (Sequence[str], optional): valid class names; a row whose
            ``cateName`` is not among them is malformed.
        require_multi_instance (bool): the CSV must have the
            ``multi_instance`` column (VPO-MSMI). Defaults to False.

    Returns:
        list[VPORow]: one row per (image, sounding class), in file order.
    """
    cols = ('cateName', 'img_Id', 'ann_Ids', 'cateId', 'vgg_file', 'split')
    rows = _read_rows(path)
    header_line, header = rows[0]
    need = cols + (('multi_instance', ) if require_multi_instance else ())
    idx = _header_index(header, need, path, header_line)
    mi_idx = header.index('multi_instance') \
        if 'multi_instance' in header else None
    out = []
    cate_names: Dict[int, Tuple[str, int]] = {}
    for line, fields in rows[1:]:
        name = _get(fields, idx['cateName'], 'cateName', path, line)
        if classes is not None and name not in classes:
            _fail(path, line, f'unknown class "{name}" (expected one of '
                  f'{list(classes)})')
        img_id = _to_int(
            _get(fields, idx['img_Id'], 'img_Id', path, line), 'img_Id',
            path, line)
        raw_ann = _get(fields, idx['ann_Ids'], 'ann_Ids', path, line)
        ann_ids = parse_ann_ids(raw_ann)
        if not ann_ids:
            _fail(path, line, f'ann_Ids "{raw_ann}" holds no integer id')
        cate_id = _to_int(
            _get(fields, idx['cateId'], 'cateId', path, line), 'cateId',
            path, line)
        if not 0 < cate_id < 255:
            _fail(path, line, f'cateId {cate_id} is not in 1..254')
        if cate_id in cate_names and cate_names[cate_id][0] != name:
            _fail(path, line, f'cateId {cate_id} is "{name}" here but '
                  f'"{cate_names[cate_id][0]}" on line '
                  f'{cate_names[cate_id][1]}')
        cate_names.setdefault(cate_id, (name, line))
        vgg_file = _get(fields, idx['vgg_file'], 'vgg_file', path, line)
        split = _check_split(
            _get(fields, idx['split'], 'split', path, line), path, line)
        multi_instance = None
        if mi_idx is not None:
            multi_instance = _to_int(
                _get(fields, mi_idx, 'multi_instance', path, line),
                'multi_instance', path, line)
            if multi_instance not in (0, 1):
                _fail(path, line, f'multi_instance must be 0 or 1, got '
                      f'{multi_instance}')
        out.append(
            VPORow(name, img_id, ann_ids, cate_id, vgg_file, split,
                   multi_instance, line))
    return out
