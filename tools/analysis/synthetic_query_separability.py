"""Do a model's audio queries tell sounds apart? (synthetic data set)

For every second of a split, the audio queries ``Q [n, d]`` the model's
fusion reads (``DDAVS.extract_queries``; the raw audio tokens when the model
has no Audio Query Module) are averaged over the ``n`` slots and
L2-normalised. The tool prints the mean cosine similarity between pairs of
seconds that sound the same set of classes and between pairs whose sets are
disjoint, and their difference, the *gap*: near 0 when the queries are
about the same whatever is heard (the decoder then cannot pick the sounding
object from them), larger when they carry the sound. ``--no-bank`` also
measures the queries with the prototype bank's residual left out. Example::

    python tools/analysis/synthetic_query_separability.py \
        configs/ddavs_tiny_synthetic_ms3.py \
        work_dirs/main_job/train/epoch_30.pth --no-bank
"""
import argparse
import json
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.config import DictAction

from ddavs_mm.apis import init_model
from ddavs_mm.datasets.synthetic import iter_rendered_clips, load_info
from ddavs_mm.registry import DATASETS


def separation_gap(feats: np.ndarray,
                   label_sets: Sequence[frozenset]) -> Dict[str, float]:
    """Mean cosine of same-set and of disjoint-set pairs, and their gap.

    Args:
        feats (np.ndarray): ``[N, d]`` one vector per second.
        label_sets (Sequence[frozenset]): the ``N`` sets of sounding classes.

    Returns:
        dict: ``same``, ``disjoint`` (mean cosine over the pairs ``i < j``
        of each kind), ``gap = same - disjoint`` and the pair counts.

    Raises:
        ValueError: lengths differ, or no pair of one of the two kinds.
    """
    feats = np.asarray(feats, dtype=np.float64)
    if len(feats) != len(label_sets):
        raise ValueError(f'{len(feats)} vectors but {len(label_sets)} '
                         'label sets')
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True).clip(1e-12)
    cos = unit @ unit.T
    i, j = np.triu_indices(len(feats), k=1)
    same = np.array([label_sets[a] == label_sets[b] for a, b in zip(i, j)],
                    dtype=bool)
    disjoint = np.array([not (label_sets[a] & label_sets[b])
                         for a, b in zip(i, j)], dtype=bool)
    if not same.any() or not disjoint.any():
        raise ValueError('need pairs of seconds with the same and with '
                         'disjoint sounding sets (a larger split)')
    s, d = float(cos[i, j][same].mean()), float(cos[i, j][disjoint].mean())
    return dict(same=s, disjoint=d, gap=s - d, same_pairs=int(same.sum()),
                disjoint_pairs=int(disjoint.sum()))


def sounding_sets(root: str, split: str) -> Dict[str, List[frozenset]]:
    """clip id → per second, the set of class ids that sound in it."""
    out = {}
    for rec, scene, _ in iter_rendered_clips(load_info(root), split):
        out[rec['clip_id']] = [
            frozenset(scene.instances[u].class_id
                      for u in scene.sounding_instances(k))
            for k in range(len(rec['frame_paths']))]
    return out


def mean_queries(model: torch.nn.Module, dataset) -> Dict[str, np.ndarray]:
    """clip id → ``[T, d]`` slot-averaged queries of its seconds."""
    out = {}
    with torch.no_grad():
        for idx in range(len(dataset)):
            sample = dataset[idx]
            audio = sample['inputs']['audio'].float()  # [T, S]
            queries = model.extract_queries(audio)  # [T, n, d]
            out[sample['data_samples'].metainfo['clip_id']] = \
                queries.mean(1).cpu().numpy()
    return out


def measure(model: torch.nn.Module, dataset, sets: Dict[str, list]
            ) -> Dict[str, float]:
    feats, labels = [], []
    for cid, q in mean_queries(model, dataset).items():
        if len(sets[cid]) != len(q):
            raise ValueError(f'clip {cid}: {len(q)} seconds of audio, '
                             f'{len(sets[cid])} in synthetic_info.json')
        feats.append(q)
        labels.extend(sets[cid])
    return separation_gap(np.concatenate(feats), labels)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--split', default='test',
                   choices=('train', 'val', 'test'))
    p.add_argument('--no-bank', action='store_true',
                   help='also measure with the prototype bank left out')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    a = p.parse_args(argv)
    model = init_model(a.config, a.checkpoint, cfg_options=a.cfg_options)
    ds_cfg = model.cfg.test_dataloader.dataset
    ds_cfg.split = a.split
    dataset = DATASETS.build(ds_cfg)
    sets = sounding_sets(ds_cfg.data_root, a.split)
    res = {'queries': measure(model, dataset, sets)}
    aqm = getattr(model, 'audio_query', None)
    if a.no_bank and aqm is not None and aqm.bank is not None:
        aqm.bank = None
        res['queries without the bank'] = measure(model, dataset, sets)
    print(f'| queries ({a.split}) | cos, same sounds | cos, disjoint '
          'sounds | gap |\n|---|---|---|---|')
    for name, r in res.items():
        print(f'| {name} | {r["same"]:.3f} | {r["disjoint"]:.3f} | '
              f'{r["gap"]:.3f} |')
    print(json.dumps(res))
    return res


if __name__ == '__main__':
    main()
