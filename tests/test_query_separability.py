"""tools/analysis/synthetic_query_separability.py: the gap between the
queries of seconds with the same and with disjoint sounding classes."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')


def _tool():
    path = osp.join(ROOT, 'tools', 'analysis',
                    'synthetic_query_separability.py')
    spec = importlib.util.spec_from_file_location('query_sep', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=2, num_val=1,
                           num_test=6, size=64, sample_rate=16000)
    return root


def test_separation_gap_by_hand():
    gap = _tool().separation_gap
    # pairs: (0,1) same set, cos 1; (0,2), (1,2) disjoint, cos 0; the pairs
    # with {1, 2} overlap without being equal and do not count
    feats = np.array([[1., 0.], [3., 0.], [0., 2.], [1., 1.]])
    sets = [frozenset({1}), frozenset({1}), frozenset({2}),
            frozenset({1, 2})]
    r = gap(feats, sets)
    assert r['same'] == pytest.approx(1.0)
    assert r['disjoint'] == pytest.approx(0.0)
    assert r['gap'] == pytest.approx(1.0)
    assert (r['same_pairs'], r['disjoint_pairs']) == (1, 2)
    # an opposite vector: disjoint cosine -1 for the pair (0, 2)
    feats[2] = [-1., 0.]
    r = gap(feats, sets)
    assert r['disjoint'] == pytest.approx(-1.0)
    assert r['gap'] == pytest.approx(2.0)
    with pytest.raises(ValueError, match='4 vectors but 3 label sets'):
        gap(feats, sets[:3])
    with pytest.raises(ValueError, match='same and with disjoint'):
        gap(feats[:2], sets[:2])


def test_sounding_sets_follow_the_scenes(data_root):
    from ddavs_mm.datasets.synthetic import load_info
    sets = _tool().sounding_sets(data_root, 'test')
    info = load_info(data_root)
    clips = [c for c in info['clips'] if c['clip_id'] in sets]
    assert len(sets) == len(clips) == 6
    for clip in clips:
        sources = {i['class_id'] for i in clip['instances']
                   if i['role'] == 'sounding'}
        per_second = sets[clip['clip_id']]
        assert len(per_second) == len(clip['frame_paths'])
        assert all(s <= sources for s in per_second)
        assert set().union(*per_second) <= sources


def test_tool_on_an_untrained_model(data_root, tmp_path):
    from mmengine.config import Config

    from ddavs_mm.registry import MODELS
    from ddavs_mm.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CFG).model)
    ckpt = str(tmp_path / 'untrained.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, 'tools/analysis/synthetic_query_separability.py',
        CFG, ckpt, '--no-bank', '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}'
    ], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '| queries (test) | cos, same sounds |' in proc.stdout
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    # the config has no bank: --no-bank adds no row
    assert list(res) == ['queries']
    r = res['queries']
    assert -1.0 <= r['disjoint'] <= 1.0 and -1.0 <= r['same'] <= 1.0
    assert r['gap'] == pytest.approx(r['same'] - r['disjoint'])
    assert r['same_pairs'] > 0 and r['disjoint_pairs'] > 0
