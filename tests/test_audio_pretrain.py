"""Audio-encoder pretraining on single-source seconds (main job step 2)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from ddavs_mm.apis.audio_encoder_pretrain import (encoder_state_in_clap_layout,
                                                  pretrain_audio_encoder)
from ddavs_mm.datasets.audio_seconds_dataset import \
    collect_synthetic_mixture_segments
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path_factory.mktemp('synthetic') / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=3, num_train=6, num_val=0,
                           num_test=0, size=32, sample_rate=16000)
    return root


def test_clap_layout_keys():
    cfg = Config.fromfile(CFG)
    enc = MODELS.build(cfg.model.audio_encoder)
    state = encoder_state_in_clap_layout(enc)
    assert any(k.startswith('audio_encoder.batch_norm.') for k in state)
    assert not any(k.startswith('frontend.') for k in state)
    n_swin = sum(1 for k in enc.state_dict() if k.startswith('audio_encoder.'))
    n_bn = sum(1 for k in enc.state_dict() if k.startswith('frontend.bn0.'))
    assert len(state) == n_swin + n_bn


def test_pretrain_learns_and_loads_back(data_root, tmp_path):
    out = str(tmp_path / 'enc.pth')
    res = pretrain_audio_encoder(CFG, 'synthetic', data_root, out, epochs=3,
                                 batch_size=16, lr=3e-3, seed=0,
                                 progress=False,
                                 work_dir=str(tmp_path / 'wd1'))
    assert osp.isfile(out) and res['num_segments'] > 0
    assert res['losses'][-1] < res['losses'][0]
    # the file loads through the encoder's own `pretrained` argument
    cfg = Config.fromfile(CFG)
    enc_cfg = cfg.model.audio_encoder.to_dict()
    enc_cfg['pretrained'] = out
    enc = MODELS.build(enc_cfg)
    enc.init_weights()
    saved = torch.load(out, weights_only=True)['state_dict']
    loaded = encoder_state_in_clap_layout(enc)
    assert saved.keys() == loaded.keys()
    for key in saved:
        assert torch.equal(saved[key], loaded[key]), key
    assert enc.frozen and not any(p.requires_grad for p in enc.parameters())


def test_pretrain_by_size_bin_labels(data_root, tmp_path):
    """--by-size-bin: the classifier has 3 x 10 outputs, recorded in meta."""
    out = str(tmp_path / 'enc_sound.pth')
    res = pretrain_audio_encoder(CFG, 'synthetic', data_root, out, epochs=1,
                                 batch_size=16, seed=0, progress=False,
                                 by_size_bin=True,
                                 work_dir=str(tmp_path / 'wd2'))
    assert res['num_classes'] == 30
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['classes'][:3] == ['bell-large', 'bell-medium', 'bell-small']
    assert meta['source_kwargs'] == dict(by_size_bin=True)


@pytest.mark.parametrize('by_size_bin', [False, True])
def test_mixture_segments_targets(data_root, by_size_bin):
    """Every second of every clip, labelled with its audible sources."""
    import numpy as np

    from ddavs_mm.datasets.synthetic import load_info
    wavs, y, names = collect_synthetic_mixture_segments(
        data_root, 'train', 16000, by_size_bin=by_size_bin, progress=False)
    clips = [c for c in load_info(data_root)['clips']
             if c['split'] == 'train']
    assert wavs.shape == (6 * 5, 16000) and wavs.dtype == np.float32
    assert y.shape == (30, 30 if by_size_bin else 10)
    assert names[0] == ('bell-large' if by_size_bin else 'bell')
    row = 0
    for clip in clips:
        for k in range(5):
            expected = set()
            for src in clip['sources']:
                if src['active'][k]:
                    expected.add(src['class_id'] * 3 + src['size_bin']
                                 if by_size_bin else src['class_id'])
            assert set(np.flatnonzero(y[row]).tolist()) == expected
            row += 1
    # the waveform of a second is that second of the clip's wav
    from ddavs_mm.datasets.transforms.audio import read_wav_mono
    wav, sr = read_wav_mono(osp.join(data_root, clips[1]['audio_path']))
    assert sr == 16000
    assert np.allclose(wavs[5 + 2], wav[2 * sr:3 * sr], atol=1e-6)


def test_pretrain_mixtures(data_root, tmp_path):
    out = str(tmp_path / 'enc_mix.pth')
    res = pretrain_audio_encoder(CFG, 'synthetic', data_root, out, epochs=2,
                                 batch_size=16, seed=0, progress=False,
                                 mixtures=True, by_size_bin=True,
                                 work_dir=str(tmp_path / 'wd3'))
    assert res['num_segments'] == 30 and res['num_classes'] == 30
    assert res['losses'][-1] < res['losses'][0]
    assert 0.0 <= res['train_accuracy'] <= 1.0
    meta = torch.load(out, weights_only=True)['meta']
    assert meta['mixtures'] is True
    with pytest.raises(ValueError, match='synthetic'):
        pretrain_audio_encoder(CFG, 's4', data_root, out, mixtures=True,
                               progress=False, work_dir=str(tmp_path / 'wd4'))


def test_pretrain_cli_rejects_by_size_bin_on_real_sources(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'pretrain_cli', osp.join(ROOT, 'tools', 'pretrain_audio_encoder.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(SystemExit):
        mod.main([CFG, '--source', 's4', '--data-root', str(tmp_path),
                  '--out', str(tmp_path / 'x.pth'), '--by-size-bin'])
    with pytest.raises(SystemExit):
        mod.main([CFG, '--source', 'vpo', '--data-root', str(tmp_path),
                  '--out', str(tmp_path / 'x.pth'), '--mixtures'])
