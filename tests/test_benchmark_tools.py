"""tools/analysis/benchmark_data.py and benchmark_train.py on the tiny
config (CPU, a few steps; speed itself is not asserted)."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'configs', 'ddavs_tiny_synthetic_ms3.py')


def _load_script(rel_path: str, name: str):
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(ROOT, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=4, num_val=1,
                           num_test=1, size=64, sample_rate=16000)
    return root


def test_benchmark_data_workers_per_gpu(data_root, tmp_path, capsys):
    tool = _load_script('tools/analysis/benchmark_data.py', 'bench_data')
    out = tmp_path / 'data.json'
    res = tool.main([TINY_CFG, '--data-root', data_root, '--clips', '3',
                     '--warmup', '1', '--target-fps', '100', '--gpus', '2',
                     '--out', str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    # the tiny config samples 2 frames per training clip
    assert res['frames_per_clip'] == 2
    assert res['pipeline'][0] == 'ClipSampleFrames'
    assert 'WaveformAugment' in res['pipeline']
    assert res['clips_per_s_cpu'] > 0 and res['clips_per_s_wall'] > 0
    needed = 100 / 2
    assert res['clips_per_s_needed_per_gpu'] == pytest.approx(needed)
    # ceil(needed / rate), and the total for 2 GPUs
    assert res['workers_per_gpu'] >= needed / res['clips_per_s_cpu']
    assert res['workers_per_gpu'] - 1 < needed / res['clips_per_s_cpu']
    assert res['workers_total'] == 2 * res['workers_per_gpu']
    assert 'workers per GPU' in capsys.readouterr().out


def test_benchmark_train_variants_and_loader(data_root, tmp_path):
    tool = _load_script('tools/analysis/benchmark_train.py', 'bench_train')
    out = tmp_path / 'train.json'
    res = tool.main([
        TINY_CFG, '--device', 'cpu', '--data-root', data_root,
        '--dummy-bank', '3,2', '--variants', 'base', 'fused+with_cp',
        '--batch-size', '2', '--iters', '1', '--warmup', '0', '--no-amp',
        '--loader-steps', '2', '--num-workers', '0', '--out', str(out)
    ])
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    assert res['frames_per_step'] == 2 * 2 and res['amp'] == 'fp32'
    base, both = res['variants']['base'], res['variants']['fused+with_cp']
    assert not base['fused'] and not base['with_cp']
    assert both['fused'] and both['with_cp'] and not both['compile']
    for e in (base, both):
        assert e['frames_per_s'] == pytest.approx(
            4 / e['median_step_ms'] * 1e3)
    ld = res['loader']
    assert ld['variant'] == 'base' and ld['steps'] == 2
    assert 0 <= ld['wait_share'] < 1


def test_benchmark_train_builds_the_variant(data_root):
    tool = _load_script('tools/analysis/benchmark_train.py', 'bench_train')
    assert tool.parse_variant('base') == dict(fused=False, with_cp=False,
                                              compile=False)
    assert tool.parse_variant('compile+fused') == dict(
        fused=True, with_cp=False, compile=True)
    with pytest.raises(ValueError, match='unknown variant'):
        tool.parse_variant('fast')
    args = tool.parse_args([TINY_CFG, '--dummy-bank', '3,2'])
    cfg = tool.load_cfg(args, data_root)
    model, optim = tool.build_step(
        cfg, tool.parse_variant('fused+with_cp'), True, torch.device('cpu'))
    assert model.training and model.backbone.with_cp
    assert all(layer.with_cp for stage in model.backbone.layers
               for layer in stage[1])
    assert optim.optimizer.defaults['fused'] is True
    assert type(optim).__name__ == 'AutocastOptimWrapper'
