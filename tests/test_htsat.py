"""Tests of the HTSAT audio encoder, its log-mel front end and its weights
(original HTSAT Lightning layout and CLAP layout, loaded directly and through
the converters under tools/model_converters/)."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

import ddavs_mm  # noqa: F401  (registers modules)
from ddavs_mm.models.audio_encoders import (HTSATAudioEncoder, LogMelFrontend,
                                            clap_frontend_cfg)
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

TINY_FRONTEND = dict(sample_rate=16000, n_fft=512, hop_length=160, f_max=8000)
TINY = dict(
    spec_size=64,
    num_mel_bins=32,
    freq_ratio=2,
    patch_embeds_hidden_size=16,
    depths=(2, 2),
    num_attention_heads=(2, 4),
    window_size=4,
    hidden_size=32,
    frontend=TINY_FRONTEND)


def tiny_encoder(seed=0, randomise=True, **kwargs):
    torch.manual_seed(seed)
    cfg = dict(TINY, **kwargs)
    enc = HTSATAudioEncoder(**cfg)
    if randomise:
        randomise_(enc, seed)
    return enc


def randomise_(module, seed):
    """Give every parameter and the bn0 statistics non-trivial values."""
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 0.6 - 0.3)
        for name, b in module.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(torch.randn(b.shape, generator=g) * 5 - 40)
            elif name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) * 50 + 10)


def wave(n=2, seconds=1.0, sr=16000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, int(seconds * sr), generator=g) * 0.1


# ---------------------------------------------------------------------------
# independent inverse mappings (model layout -> checkpoint layouts)
# ---------------------------------------------------------------------------
BLOCK_SUBS = {
    'layernorm_before.': 'norm1.',
    'attention.self.relative_position_bias_table':
    'attn.relative_position_bias_table',
    'attention.self.relative_position_index': 'attn.relative_position_index',
    'attention.output.dense.': 'attn.proj.',
    'layernorm_after.': 'norm2.',
    'intermediate.dense.': 'mlp.fc1.',
    'output.dense.': 'mlp.fc2.',
}


def to_original_layout(sd):
    """Our state dict -> RetroCirce HTSAT keys (without ``sed_model.``)."""
    out, qkv = {}, {}
    for key, value in sd.items():
        if key.startswith('frontend.bn0.'):
            out['bn0.' + key[len('frontend.bn0.'):]] = value.clone()
            continue
        assert key.startswith('audio_encoder.'), key
        key = key[len('audio_encoder.'):]
        if '.blocks.' not in key:
            out[key] = value.clone()  # patch_embed.*, norm.*, downsample
            continue
        head, sub = key.split('.blocks.', 1)
        j, sub = sub.split('.', 1)
        prefix = f'{head}.blocks.{j}.'
        if sub.startswith('attention.self.') and sub.split('.')[2] in (
                'query', 'key', 'value'):
            _, _, part, kind = sub.split('.')
            qkv.setdefault((prefix, kind), {})[part] = value
            continue
        for ours, theirs in BLOCK_SUBS.items():
            if sub.startswith(ours):
                out[prefix + theirs + sub[len(ours):]] = value.clone()
                break
        else:
            raise AssertionError(f'unmapped key {key}')
    for (prefix, kind), parts in qkv.items():
        out[f'{prefix}attn.qkv.{kind}'] = torch.cat(
            [parts['query'], parts['key'], parts['value']], dim=0)
    return out


EXTRA_ORIGINAL_KEYS = {
    'tscam_conv.weight': torch.randn(527, 32, 4, 3),
    'tscam_conv.bias': torch.randn(527),
    'head.weight': torch.randn(527, 527),
    'head.bias': torch.randn(527),
    'spectrogram_extractor.stft.conv_real.weight': torch.randn(257, 1, 512),
    'spectrogram_extractor.stft.conv_imag.weight': torch.randn(257, 1, 512),
    'logmel_extractor.melW': torch.randn(257, 32),
    'layers.0.blocks.1.attn_mask': torch.zeros(16, 16, 16),
}


def save_original_ckpt(enc, path, extra=True):
    sd = to_original_layout(enc.state_dict())
    if extra:
        sd.update({k: v.clone() for k, v in EXTRA_ORIGINAL_KEYS.items()})
    ckpt = {
        'epoch': 3,
        'global_step': 1234,
        'pytorch-lightning_version': '1.5.9',
        'state_dict': {'sed_model.' + k: v
                       for k, v in sd.items()},
    }
    torch.save(ckpt, path)
    return ckpt


def to_clap_layout(sd, prefix):
    out = {}
    for key, value in sd.items():
        if key.startswith('frontend.bn0.'):
            out[prefix + 'audio_encoder.batch_norm.' +
                key[len('frontend.bn0.'):]] = value.clone()
        else:
            out[prefix + key] = value.clone()
    return out


def tiny_clap_config():
    return dict(
        spec_size=64,
        num_mel_bins=32,
        patch_size=4,
        patch_stride=[4, 4],
        patch_embeds_hidden_size=16,
        depths=[2, 2],
        num_attention_heads=[2, 4],
        window_size=4,
        hidden_size=32,
        enable_fusion=False)


# ---------------------------------------------------------------------------
# front end
# ---------------------------------------------------------------------------
@pytest.mark.parametrize('cfg', [dict(), TINY_FRONTEND])
def test_frontend_matches_numpy_reference(cfg):
    """Against transformers' numpy STFT + librosa-style Slaney filterbank."""
    from transformers.audio_utils import (mel_filter_bank, spectrogram,
                                          window_function)
    fe = LogMelFrontend(**cfg, n_mels=64 if not cfg else 32).eval()
    w = wave(1, 1.0, fe.sample_rate, seed=3)
    ours = fe.log_mel(w)[0, 0].numpy()
    mel = mel_filter_bank(
        num_frequency_bins=fe.n_fft // 2 + 1,
        num_mel_filters=fe.n_mels,
        min_frequency=fe.f_min,
        max_frequency=fe.f_max,
        sampling_rate=fe.sample_rate,
        norm='slaney',
        mel_scale='slaney')
    ref = spectrogram(
        w[0].double().numpy(),
        window_function(fe.n_fft, 'hann'),
        frame_length=fe.n_fft,
        hop_length=fe.hop_length,
        power=2.0,
        mel_filters=mel,
        mel_floor=1e-10,
        log_mel='dB').T
    assert ours.shape == ref.shape == (w.shape[1] // fe.hop_length + 1,
                                       fe.n_mels)
    np.testing.assert_allclose(ours, ref, atol=1e-3)


def test_frontend_silence_frames_and_sine_peak():
    fe = LogMelFrontend(**TINY_FRONTEND, n_mels=32).eval()
    silent = fe.log_mel(torch.zeros(2, 8000))
    assert silent.shape == (2, 1, 8000 // 160 + 1, 32)
    assert torch.allclose(silent, torch.full_like(silent, -100.0))
    assert fe.num_frames(8000) == 51
    t = torch.arange(16000) / 16000
    tone = torch.sin(2 * math.pi * 1000 * t)[None]
    spec = fe.log_mel(tone)[0, 0, 10:-10].mean(0)
    peak_bin = int(spec.argmax())
    # the bin whose filter responds most to 1 kHz
    fft_bin = round(1000 / (16000 / 512))
    assert peak_bin == int(fe.mel_fbank[fft_bin].argmax())


def test_frontend_bn0_over_mel_bins():
    fe = LogMelFrontend(**TINY_FRONTEND, n_mels=32).eval()
    with torch.no_grad():
        fe.bn0.running_mean.copy_(torch.linspace(-60, -20, 32))
        fe.bn0.running_var.copy_(torch.linspace(4, 100, 32))
        fe.bn0.weight.copy_(torch.linspace(0.5, 2, 32))
        fe.bn0.bias.copy_(torch.linspace(-1, 1, 32))
    w = wave(2, 0.5)
    raw = fe.log_mel(w)
    expect = (raw - fe.bn0.running_mean) / torch.sqrt(
        fe.bn0.running_var + fe.bn0.eps) * fe.bn0.weight + fe.bn0.bias
    assert torch.allclose(fe(w), expect, atol=1e-5)
    # no persistent non-learned buffers: window / filterbank are derived
    assert all(k.startswith('bn0.') for k in fe.state_dict())


def test_frontend_float32_under_autocast():
    fe = LogMelFrontend(**TINY_FRONTEND, n_mels=32).eval()
    w = wave(1)
    ref = fe(w)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = fe(w)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref)


def test_frontend_bad_input():
    fe = LogMelFrontend(**TINY_FRONTEND, n_mels=32)
    with pytest.raises(ValueError, match='NaN'):
        fe(torch.full((1, 4000), float('nan')))
    with pytest.raises(ValueError, match=r'\[N, S\]'):
        fe(torch.zeros(4000))
    with pytest.raises(ValueError, match='too short'):
        fe(torch.zeros(1, 100))
    with pytest.raises(ValueError, match='f_max'):
        LogMelFrontend(sample_rate=16000, f_max=14000)


# ---------------------------------------------------------------------------
# encoder shapes
# ---------------------------------------------------------------------------
def test_tiny_shapes_and_embedding_is_token_mean():
    enc = tiny_encoder()
    assert enc.out_channels == 32
    assert enc.token_grid == (4, 16) and enc.num_tokens == 64
    w = wave(3)
    tokens = enc(w)
    emb = enc.embed(w)
    assert tokens.shape == (3, 64, 32)
    assert emb.shape == (3, 32)
    # pooled = average over the (freq, time) grid
    assert torch.allclose(emb, tokens.mean(1), atol=1e-5)
    # arbitrary leading dims ([B, T, S]) and chunking give the same numbers
    enc.chunk_size = 2
    tok_btn, emb_bt = enc.encode(w.reshape(1, 3, -1))
    assert tok_btn.shape == (1, 3, 64, 32) and emb_bt.shape == (1, 3, 32)
    assert torch.allclose(tok_btn[0], tokens, atol=1e-5)


def test_too_long_and_bad_config():
    enc = tiny_encoder(randomise=False)
    # 128 frames at hop 160 -> at most 127 * 160 + 159 samples
    assert enc.max_samples == 127 * 160 + 159
    assert enc(torch.zeros(1, enc.max_samples)).shape == (1, 64, 32)
    with pytest.raises(ValueError, match='samples'):
        enc(torch.zeros(1, enc.max_samples + 1))
    with pytest.raises(ValueError, match='freq_ratio'):
        HTSATAudioEncoder(**dict(TINY, freq_ratio=4))
    with pytest.raises(ValueError, match='n_mels'):
        HTSATAudioEncoder(**dict(TINY, frontend=dict(TINY_FRONTEND,
                                                     n_mels=64)))
    with pytest.raises(ValueError, match='hidden_size'):
        HTSATAudioEncoder(**dict(TINY, hidden_size=768))
    with pytest.raises(ValueError, match='fusion'):
        HTSATAudioEncoder(**dict(TINY, enable_fusion=True))


def test_base_config_params_and_shapes():
    enc = HTSATAudioEncoder()  # HTSAT-base defaults, 32 kHz front end
    n_params = sum(p.numel() for p in enc.parameters())
    # field facts: HTSAT 27.5 M parameters
    assert abs(n_params - 27.5e6) / 27.5e6 < 0.02, n_params
    assert enc.out_channels == 768
    # (768, 2, 32) grid: 256 / 4 (patch) / 8 (3 mergings) = 8 freq rows,
    # regrouped by freq_ratio 4 into 2 bins x (8 * 4) = 32 time steps
    assert enc.token_grid == (2, 32) and enc.num_tokens == 64
    assert enc.frontend.sample_rate == 32000
    assert enc.frontend.hop_length == 320
    w = wave(1, 1.0, 32000)
    tokens, emb = enc.encode(w)
    assert tokens.shape == (1, 64, 768)
    assert emb.shape == (1, 768)


def test_registry_build():
    enc = MODELS.build(dict(type='HTSATAudioEncoder', **TINY))
    assert isinstance(enc, HTSATAudioEncoder)
    assert MODELS.get('LogMelFrontend') is LogMelFrontend


# ---------------------------------------------------------------------------
# freezing
# ---------------------------------------------------------------------------
def test_frozen_encoder_no_grad_and_eval():
    enc = tiny_encoder()
    assert enc.frozen
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not any(m.training for m in enc.modules())
    w = wave(2).requires_grad_(True)
    out = enc(w)
    assert not out.requires_grad
    # bn0 statistics are not updated by a forward under train()
    before = enc.frontend.bn0.running_mean.clone()
    enc(wave(2, seed=5))
    assert torch.equal(before, enc.frontend.bn0.running_mean)


def test_unfrozen_encoder_trains():
    enc = tiny_encoder(frozen=False)
    assert all(p.requires_grad for p in enc.parameters())
    enc.train()
    assert enc.training and enc.audio_encoder.training
    enc(wave(2)).pow(2).mean().backward()
    grads = [p.grad for p in enc.parameters()]
    assert all(g is not None for g in grads)
    assert enc.audio_encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    enc.eval()
    assert not enc.training


# ---------------------------------------------------------------------------
# checkpoint loading
# ---------------------------------------------------------------------------
def run_converter(script, src, dst):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, f'tools/model_converters/{script}', str(src),
         str(dst)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_load_original_htsat_lightning_ckpt(tmp_path):
    src = tiny_encoder(seed=0).eval()
    path = tmp_path / 'HTSAT_AudioSet_Saved_1.ckpt'
    save_original_ckpt(src, path)

    dst = tiny_encoder(
        seed=1, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    w = wave(2, seed=7)
    assert not torch.allclose(dst(w), src(w), atol=1e-3)
    dst.init_weights()
    report = dst.load_report
    assert report['layout'] == 'htsat'
    assert report['loaded'] == len(dst.state_dict())
    assert sorted(report['dropped']) == sorted(
        'sed_model.' + k for k in EXTRA_ORIGINAL_KEYS)
    assert 'classifier' in report['dropped']['sed_model.head.weight']
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
    assert torch.allclose(dst(w), src(w), atol=1e-5)
    assert torch.allclose(dst.embed(w), src.embed(w), atol=1e-5)
    # still frozen after loading
    assert not any(p.requires_grad for p in dst.parameters())


def test_htsat2ddavs_converter_writes_encoder_keys(tmp_path):
    src = tiny_encoder(seed=0).eval()
    ckpt = tmp_path / 'HTSAT_AudioSet_Saved_1.ckpt'
    orig = save_original_ckpt(src, ckpt)['state_dict']
    out = run_converter('htsat2ddavs.py', ckpt, tmp_path / 'htsat.pth')
    assert 'dropped sed_model.tscam_conv.weight' in out
    state = torch.load(tmp_path / 'htsat.pth', weights_only=True)
    assert state.keys() == src.state_dict().keys()
    # the fused qkv rows [C, 2C) are the key projection
    key = 'audio_encoder.layers.1.blocks.0.attention.self.key.weight'
    assert torch.equal(state[key],
                       orig['sed_model.layers.1.blocks.0.attn.qkv.weight']
                       [32:64])
    dst = tiny_encoder(seed=1, pretrained=str(tmp_path / 'htsat.pth'))
    dst.init_weights()
    assert dst.load_report['layout'] == 'ddavs'
    assert dst.load_report['dropped'] == {}
    w = wave(2, seed=7)
    assert torch.allclose(dst(w), src(w), atol=1e-5)


def test_lightning_ckpt_with_foreign_pickled_class(tmp_path, monkeypatch):
    """Lightning pickles callback classes (as dict keys) and hparams objects
    from modules that need not be installed; they must not block loading,
    and torch.load stays under weights_only=True."""
    import sys
    import types
    mod = types.ModuleType('fake_lightning_callbacks')

    class ModelCheckpoint:

        def __init__(self):
            self.best_model_path = 'epoch=3.ckpt'

    ModelCheckpoint.__module__ = mod.__name__
    ModelCheckpoint.__qualname__ = 'ModelCheckpoint'
    mod.ModelCheckpoint = ModelCheckpoint
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    src = tiny_encoder(seed=0).eval()
    path = tmp_path / 'lightning.ckpt'
    ckpt = save_original_ckpt(src, path)
    ckpt['callbacks'] = {ModelCheckpoint: {'best_model_score': 0.47}}
    ckpt['hyper_parameters'] = ModelCheckpoint()
    torch.save(ckpt, path)
    monkeypatch.delitem(sys.modules, mod.__name__)
    with pytest.raises(Exception):  # plain weights_only load refuses it
        torch.load(path, weights_only=True)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, 'load', spy)
    dst = tiny_encoder(seed=1, pretrained=str(path))
    dst.init_weights()
    assert calls and all(c is True for c in calls)
    w = wave(1, seed=11)
    assert torch.allclose(dst(w), src(w), atol=1e-5)


def test_pretrained_argument_and_plain_state_dict(tmp_path):
    src = tiny_encoder(seed=0).eval()
    path = tmp_path / 'htsat_plain.pth'
    # bare original-layout state dict under LAION-CLAP's audio_branch prefix
    torch.save({'audio_branch.' + k: v
                for k, v in to_original_layout(src.state_dict()).items()},
               path)
    dst = tiny_encoder(seed=1, pretrained=str(path))
    assert dst.init_cfg == dict(type='Pretrained', checkpoint=str(path))
    dst.init_weights()
    assert dst.load_report['dropped'] == {}
    w = wave(2, seed=8)
    assert torch.allclose(dst(w), src(w), atol=1e-5)


def test_fused_qkv_split_matches_fused_attention(tmp_path):
    """HTSAT's fused-qkv window attention, written out here, equals the
    loaded (split q/k/v) transformers attention."""
    src = tiny_encoder(seed=0).eval()
    path = tmp_path / 'h.ckpt'
    orig = save_original_ckpt(src, path)['state_dict']
    dst = tiny_encoder(seed=1, pretrained=str(path))
    dst.init_weights()

    pre = 'sed_model.layers.1.blocks.0.attn.'
    dim, heads, ws = 32, 4, 4
    x = torch.randn(3, ws * ws, dim)
    qkv = x @ orig[pre + 'qkv.weight'].T + orig[pre + 'qkv.bias']
    qkv = qkv.reshape(3, ws * ws, 3, heads, dim // heads)
    qkv = qkv.permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (dim // heads)**-0.5, qkv[1], qkv[2]
    attn = q @ k.transpose(-2, -1)
    table = orig[pre + 'relative_position_bias_table']
    index = orig[pre + 'relative_position_index']
    bias = table[index.view(-1)].view(ws * ws, ws * ws, -1).permute(2, 0, 1)
    attn = (attn + bias[None]).softmax(-1)
    ref = (attn @ v).transpose(1, 2).reshape(3, ws * ws, dim)
    ref = ref @ orig[pre + 'proj.weight'].T + orig[pre + 'proj.bias']

    block = dst.audio_encoder.layers[1].blocks[0].attention
    with torch.no_grad():
        ours = block(x)[0]
    assert torch.allclose(ours, ref, atol=1e-5)


def test_load_clap_save_pretrained_dir_applies_bn_once(tmp_path):
    """A real ClapAudioModel.save_pretrained directory, loaded directly and
    through clap2ddavs.py; the encoder must reproduce ClapAudioModel run on
    our (pre-bn0) log-mel."""
    from transformers import ClapAudioConfig, ClapAudioModel
    torch.manual_seed(0)
    clap = ClapAudioModel(ClapAudioConfig(**tiny_clap_config())).eval()
    randomise_(clap, seed=4)
    clap.save_pretrained(str(tmp_path / 'clap'))

    enc = tiny_encoder(
        seed=1, init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path /
                                                              'clap')))
    enc.init_weights()
    assert enc.load_report['layout'] == 'clap'
    assert enc.load_report['dropped'] == {}
    assert torch.equal(enc.frontend.bn0.running_var,
                       clap.audio_encoder.batch_norm.running_var)

    w = wave(2, seed=9)
    with torch.no_grad():
        ref = clap(enc.frontend.log_mel(w))
    tokens, emb = enc.encode(w)
    assert torch.allclose(
        tokens, ref.last_hidden_state.flatten(2).transpose(1, 2), atol=1e-5)
    assert torch.allclose(emb, ref.pooler_output, atol=1e-5)

    out = run_converter('clap2ddavs.py', tmp_path / 'clap',
                        tmp_path / 'clap.pth')
    assert "'depths': [2, 2]" in out
    conv = tiny_encoder(seed=2, pretrained=str(tmp_path / 'clap.pth'))
    conv.init_weights()
    assert conv.load_report['layout'] == 'ddavs'
    assert torch.allclose(conv(w), tokens, atol=1e-6)


@pytest.mark.parametrize('fmt', ['safetensors', 'bin'])
def test_load_clap_model_layout_dir(tmp_path, fmt):
    """ClapModel layout (audio_model.audio_encoder.*) with text tower keys."""
    src = tiny_encoder(seed=0).eval()
    sd = to_clap_layout(src.state_dict(), 'audio_model.')
    extras = {
        'text_model.embeddings.word_embeddings.weight': torch.randn(10, 8),
        'text_projection.linear1.weight': torch.randn(8, 8),
        'audio_projection.linear1.weight': torch.randn(8, 32),
        'logit_scale_a': torch.tensor(2.0),
    }
    sd.update(extras)
    d = tmp_path / 'clap_full'
    d.mkdir()
    with open(d / 'config.json', 'w') as f:
        json.dump({'model_type': 'clap', 'audio_config': tiny_clap_config()},
                  f)
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in sd.items()},
                  str(d / 'model.safetensors'))
    else:
        torch.save(sd, d / 'pytorch_model.bin')
    dst = tiny_encoder(seed=1, pretrained=str(d))
    dst.init_weights()
    report = dst.load_report
    assert sorted(report['dropped']) == sorted(extras)
    assert report['dropped']['logit_scale_a'] == \
        'CLAP contrastive temperature'
    w = wave(2, seed=10)
    assert torch.allclose(dst(w), src(w), atol=1e-5)


def test_clap_config_difference_is_an_error(tmp_path):
    src = tiny_encoder(seed=0)
    d = tmp_path / 'clap_other'
    d.mkdir()
    torch.save(to_clap_layout(src.state_dict(), ''), d / 'pytorch_model.bin')
    with open(d / 'config.json', 'w') as f:
        json.dump(dict(tiny_clap_config(), spec_size=128), f)
    dst = tiny_encoder(seed=1, pretrained=str(d))
    with pytest.raises(ValueError, match='config.json differences'):
        dst.init_weights()


def test_shape_mismatch_strict_and_lenient(tmp_path):
    other = tiny_encoder(seed=0, num_attention_heads=(4, 8))
    path = tmp_path / 'heads.ckpt'
    save_original_ckpt(other, path, extra=False)
    strict = tiny_encoder(seed=1, pretrained=str(path))
    with pytest.raises(ValueError, match=r'(?s)heads\.ckpt.*size mismatch'):
        strict.init_weights()
    lenient = tiny_encoder(seed=1, pretrained=str(path), strict_load=False)
    before = lenient.state_dict()
    lenient.init_weights()
    after = lenient.state_dict()
    for k, v in after.items():
        if 'relative_position_bias_table' in k:  # [.., 2 heads] vs 4 heads
            assert torch.equal(v, before[k]), k
        else:  # everything else fits and was loaded
            assert torch.equal(v, other.state_dict()[k]), k


def test_missing_file_and_nothing_loads(tmp_path):
    missing = tmp_path / 'nope' / 'HTSAT_AudioSet_Saved_1.ckpt'
    enc = tiny_encoder(pretrained=str(missing))
    with pytest.raises(FileNotFoundError, match='HTSAT_AudioSet_Saved_1'):
        enc.init_weights()
    empty_dir = tmp_path / 'empty_clap'
    empty_dir.mkdir()
    with pytest.raises(FileNotFoundError, match='config.json'):
        enc.load_pretrained(str(empty_dir))
    (empty_dir / 'config.json').write_text(json.dumps(tiny_clap_config()))
    with pytest.raises(FileNotFoundError, match='empty_clap'):
        enc.load_pretrained(str(empty_dir))
    # right layout, but no key fits this encoder
    path = tmp_path / 'unrelated.ckpt'
    torch.save({'state_dict': {'sed_model.head.weight': torch.randn(2, 2),
                               'sed_model.layers.9.blocks.0.attn.qkv.weight':
                               torch.randn(6, 2)}}, path)
    with pytest.raises(ValueError, match=r'(?s)unrelated\.ckpt.*missing'):
        enc.load_pretrained(str(path))
    # an original key without a rule is named
    path = tmp_path / 'ape.ckpt'
    sd = to_original_layout(tiny_encoder(seed=0).state_dict())
    sd['absolute_pos_embed'] = torch.zeros(1, 256, 16)
    torch.save({'state_dict': sd}, path)
    with pytest.raises(ValueError, match='absolute_pos_embed'):
        enc.load_pretrained(str(path))
    path2 = tmp_path / 'foreign.pth'
    torch.save({'backbone.conv.weight': torch.randn(2, 2)}, path2)
    with pytest.raises(ValueError, match=r'foreign\.pth.*none of the HTSAT'):
        enc.load_pretrained(str(path2))


def test_clap_frontend_cfg(tmp_path):
    with open(tmp_path / 'preprocessor_config.json', 'w') as f:
        json.dump({'sampling_rate': 48000, 'hop_length': 480,
                   'fft_window_size': 1024, 'feature_size': 64,
                   'frequency_min': 50, 'frequency_max': 14000,
                   'truncation': 'rand_trunc'}, f)
    cfg = clap_frontend_cfg(str(tmp_path))
    assert cfg == dict(sample_rate=48000, n_fft=1024, hop_length=480,
                       n_mels=64, f_min=50.0, f_max=14000.0,
                       mel_scale='slaney', mel_norm='slaney')
    enc = HTSATAudioEncoder(frontend=cfg)
    assert enc.frontend.sample_rate == 48000
    # 10 s at 48 kHz / hop 480 -> 1001 frames, fits 1024
    assert enc.max_samples >= 10 * 48000
    assert not osp.exists(tmp_path / 'config.json')
