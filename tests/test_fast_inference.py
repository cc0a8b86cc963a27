"""The fast inference path: SDPA attention, cached weight-derived tensors,
folded alignment attention and BatchNorms, optimize_for_inference, and the
FastInferenceHook. Every fast variant is compared with a reference computed
the slow, explicit way."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.config import Config

import ddavs_mm  # noqa: F401
from ddavs_mm.apis import init_model, optimize_for_inference
from ddavs_mm.apis.fast_inference import fold_conv_bn, resolve_dtype
from ddavs_mm.models.audio_encoders import HTSATAudioEncoder
from ddavs_mm.models.audio_encoders.htsat import (HTSATSwinLayer,
                                                  HTSATWindowAttention)
from ddavs_mm.models.audio_query import AudioQueryModule, PrototypeBank
from ddavs_mm.models.backbones import (SDPAEfficientMultiheadAttention,
                                       SDPAMixVisionTransformer,
                                       mit_attention_to_sdpa, multihead_sdpa)
from ddavs_mm.models.heads import CrossAlignmentBlock
from ddavs_mm.models.utils.weight_cache import WeightDerivedCache
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CFG = osp.join(ROOT, 'tests', 'data',
                    'ddavs_tiny_synthetic_ms3_nobank.py')

# float32: the fast path reorders sums (SDPA, folded projections, folded
# BN); logits of magnitude ~1-10 then differ by ~1e-6.
FP32_ATOL = 1e-4
# bf16 weights: ~3 significant digits per operation.
BF16_REL = 0.1


def _mit_kwargs():
    return dict(in_channels=3, embed_dims=16, num_stages=4,
                num_layers=[1, 2, 1, 1], num_heads=[1, 2, 5, 8],
                patch_sizes=[7, 3, 3, 3], sr_ratios=[8, 4, 2, 1],
                out_indices=(0, 1, 2, 3), mlp_ratio=4, drop_path_rate=0.0)


# --------------------------------------------------------------------------
# MiT
# --------------------------------------------------------------------------
def test_multihead_sdpa_matches_nn_multihead_attention():
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    nn.init.normal_(attn.in_proj_bias, std=0.1)
    q, kv = torch.randn(3, 7, 32), torch.randn(3, 11, 32)
    with torch.no_grad():
        ref = attn(q, kv, kv, need_weights=False)[0]
        out = multihead_sdpa(attn, q, kv)
        ref_self = attn(q, q, q, need_weights=False)[0]
        out_self = multihead_sdpa(attn, q, q, self_attention=True)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out_self, ref_self, atol=1e-6, rtol=1e-5)


def test_sdpa_mit_equals_mmseg_mit_and_loads_its_weights():
    from mmseg.models.backbones import MixVisionTransformer
    torch.manual_seed(0)
    ref = MixVisionTransformer(**_mit_kwargs())
    ref.init_weights()
    sdpa = MODELS.build(dict(type='SDPAMixVisionTransformer',
                             **_mit_kwargs()))
    assert isinstance(sdpa, SDPAMixVisionTransformer)
    # same parameter names: a MiT checkpoint loads as is
    missing, unexpected = sdpa.load_state_dict(ref.state_dict())
    assert not missing and not unexpected
    attns = [m for m in sdpa.modules()
             if isinstance(m, SDPAEfficientMultiheadAttention)]
    assert len(attns) == 5
    x = torch.randn(2, 3, 64, 64)
    ref.eval(), sdpa.eval()
    with torch.no_grad():
        for a, b in zip(ref(x), sdpa(x)):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    # gradients in training mode (dropout 0) agree too
    ref.train(), sdpa.train()
    x.requires_grad_(True)
    ref(x)[-1].square().sum().backward()
    g_ref = x.grad.clone()
    x.grad = None
    sdpa(x)[-1].square().sum().backward()
    torch.testing.assert_close(x.grad, g_ref, atol=1e-4, rtol=1e-3)


def test_mit_attention_to_sdpa_converts_in_place():
    from mmseg.models.backbones import MixVisionTransformer
    mit = MixVisionTransformer(**_mit_kwargs())
    before = {k: v.clone() for k, v in mit.state_dict().items()}
    assert mit_attention_to_sdpa(mit) == 5
    assert mit_attention_to_sdpa(mit) == 0  # already converted
    after = mit.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


# --------------------------------------------------------------------------
# HTSAT
# --------------------------------------------------------------------------
def _tiny_htsat(**kwargs):
    return HTSATAudioEncoder(
        spec_size=64, num_mel_bins=16, patch_embeds_hidden_size=16,
        depths=(2, 2), num_attention_heads=(2, 4), window_size=4,
        hidden_size=32, drop_path_rate=0.0,
        frontend=dict(sample_rate=16000, n_fft=512, hop_length=160,
                      n_mels=16, f_min=50.0, f_max=8000.0), **kwargs)


def _as_transformers_eager(enc: nn.Module) -> nn.Module:
    from transformers.models.clap.modeling_clap import (ClapAudioLayer,
                                                        ClapAudioSelfAttention)
    ref = copy.deepcopy(enc)
    for m in ref.modules():
        if type(m) is HTSATWindowAttention:
            m.__class__ = ClapAudioSelfAttention
        elif type(m) is HTSATSwinLayer:
            m.__class__ = ClapAudioLayer
    return ref


def test_htsat_sdpa_window_attention_equals_eager():
    torch.manual_seed(0)
    enc = _tiny_htsat().eval()
    attns = [m for m in enc.modules() if isinstance(m, HTSATWindowAttention)]
    assert len(attns) == 4  # every block, shifted ones included
    for m in attns:  # a bias that matters
        nn.init.normal_(m.relative_position_bias_table, std=1.0)
    ref = _as_transformers_eager(enc)
    wave = 0.1 * torch.randn(3, 16000)
    with torch.no_grad():
        out = enc(wave)
        torch.testing.assert_close(out, ref(wave), atol=1e-5, rtol=1e-4)
        # cached bias: a second call gives the same tokens
        torch.testing.assert_close(enc(wave), out, atol=0, rtol=0)
        # an in-place change of the bias table is seen (cache refreshed)
        for m in attns:
            m.relative_position_bias_table.mul_(-1)
        for m in ref.modules():
            if hasattr(m, 'relative_position_bias_table'):
                m.relative_position_bias_table.mul_(-1)
        out2 = enc(wave)
        assert not torch.allclose(out2, out, atol=1e-3)
        torch.testing.assert_close(out2, ref(wave), atol=1e-5, rtol=1e-4)


def test_htsat_sdpa_trains_the_bias_table():
    torch.manual_seed(0)
    enc = _tiny_htsat(frozen=False).train()
    ref = _as_transformers_eager(enc)
    wave = 0.1 * torch.randn(2, 16000)
    enc(wave).square().sum().backward()
    ref(wave).square().sum().backward()
    for (name, p), q in zip(enc.named_parameters(), ref.parameters()):
        if 'relative_position_bias_table' in name:
            assert p.grad is not None and p.grad.abs().sum() > 0
            torch.testing.assert_close(p.grad, q.grad, atol=1e-5, rtol=1e-3)


# --------------------------------------------------------------------------
# weight-derived cache and the bank's keys / values
# --------------------------------------------------------------------------
def test_weight_derived_cache_reuses_and_refreshes():
    lin = nn.Linear(3, 3)
    calls = []

    def compute():
        calls.append(1)
        return lin.weight * 2

    cache = WeightDerivedCache()
    with torch.no_grad():
        a = cache.get([lin.weight], compute)
        assert cache.get([lin.weight], compute) is a and len(calls) == 1
        lin.weight.add_(1.0)  # in-place change: version bump
        b = cache.get([lin.weight], compute)
        assert len(calls) == 2 and torch.equal(b, lin.weight * 2)
        cache.get([lin.weight], compute, extra_key=(torch.float16, ))
        assert len(calls) == 3
        lin.weight = nn.Parameter(torch.zeros(3, 3))  # a new tensor
        assert torch.equal(cache.get([lin.weight], compute),
                           torch.zeros(3, 3))
        assert len(calls) == 4
    # grad mode with a trainable source: never cached, keeps the graph
    out = cache.get([lin.weight], compute)
    assert out.requires_grad and len(calls) == 5
    # inference tensors are not versioned: never cached
    with torch.inference_mode():
        t = torch.ones(2)
        cache.get([t], lambda: t + 1)
        cache.get([t], lambda: t + 1)
    assert len(calls) == 5


def _aqm_with_bank(seed=0):
    torch.manual_seed(seed)
    bank = PrototypeBank(prototypes=torch.randn(12, 16),
                         class_ids=list(range(12)))
    return AudioQueryModule(
        in_channels=16, embed_dims=16, num_queries=3,
        qformer_cfg=dict(num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0),
        bank=bank, qkv_bias=True)


def _refine_reference(aqm, q_a):
    bank = aqm.bank.prototypes
    key, value = aqm.w_k(bank), aqm.w_v(bank)
    attn = (aqm.w_q(q_a) @ key.t() / 16**0.5).softmax(-1)
    return aqm.norm(q_a + aqm.gamma * attn @ value), attn


def test_aqm_bank_key_value_cached_in_eval_and_refreshed():
    aqm = _aqm_with_bank().eval()
    q_a = torch.randn(4, 3, 16)
    with torch.no_grad():
        k1, v1 = aqm.bank_key_value(torch.float32)
        k2, v2 = aqm.bank_key_value(torch.float32)
        assert k1 is k2 and v1 is v2  # computed once
        ref, ref_attn = _refine_reference(aqm, q_a)
        torch.testing.assert_close(aqm.refine(q_a), ref, atol=1e-6,
                                   rtol=1e-5)
        q, attn = aqm.refine(q_a, return_attn=True)
        torch.testing.assert_close(attn, ref_attn)
        # a weight change (e.g. an optimizer step) is seen
        aqm.w_k.weight.add_(0.5)
        k3, _ = aqm.bank_key_value(torch.float32)
        assert k3 is not k1
        torch.testing.assert_close(aqm.refine(q_a),
                                   _refine_reference(aqm, q_a)[0],
                                   atol=1e-6, rtol=1e-5)
        # load_state_dict of other weights is seen
        other = _aqm_with_bank(seed=1).eval()
        aqm.load_state_dict(other.state_dict())
        torch.testing.assert_close(aqm.refine(q_a),
                                   _refine_reference(other, q_a)[0],
                                   atol=1e-6, rtol=1e-5)
    # train(): cache dropped, gradients reach W_K and W_V
    aqm.train()
    assert aqm._bank_kv_cache._value is None
    aqm.refine(q_a).square().sum().backward()
    assert aqm.w_k.weight.grad.abs().sum() > 0
    assert aqm.w_v.weight.grad.abs().sum() > 0


def test_aqm_without_bank_has_no_bank_key_value():
    aqm = AudioQueryModule(in_channels=16, embed_dims=16, num_queries=2,
                           qformer_cfg=dict(num_hidden_layers=1,
                                            num_attention_heads=2,
                                            intermediate_size=32))
    with pytest.raises(RuntimeError, match='no prototype bank'):
        aqm.bank_key_value()


# --------------------------------------------------------------------------
# alignment block
# --------------------------------------------------------------------------
def _block_reference(b, v, queries):
    """The block with nn.MultiheadAttention's own forward (eval)."""
    q = b.query_proj(queries)
    if b.norm_position == 'pre':
        vn = b.a2v_norm_v(v)
        q = q + b.a2v_attn(b.a2v_norm_q(q), vn, vn, need_weights=False)[0]
        q = q + b.a_ffn(b.a_ffn_norm(q))
        qn = b.v2a_norm_a(q)
        v = v + b.v2a_attn(b.v2a_norm_v(v), qn, qn, need_weights=False)[0]
        return v + b.v_ffn(b.v_ffn_norm(v))
    q = b.a2v_norm_q(q + b.a2v_attn(q, v, v, need_weights=False)[0])
    q = b.a_ffn_norm(q + b.a_ffn(q))
    v = b.v2a_norm_v(v + b.v2a_attn(v, q, q, need_weights=False)[0])
    return b.v_ffn_norm(v + b.v_ffn(v))


@pytest.mark.parametrize('channels,heads,norm', [(64, 2, 'pre'),
                                                 (96, 4, 'post'),
                                                 (32, 1, 'pre')])
def test_alignment_block_sdpa_and_folded_equal_reference(channels, heads,
                                                         norm):
    torch.manual_seed(0)
    blk = CrossAlignmentBlock(channels, 24, num_heads=heads,
                              norm_position=norm, zero_init=False).eval()
    for p in blk.parameters():  # biases and all: every term matters
        nn.init.normal_(p, std=0.1)
    v, q = torch.randn(3, 20, channels), torch.randn(3, 5, 24)
    with torch.no_grad():
        ref = _block_reference(blk, v, q)
        torch.testing.assert_close(blk(v, q), ref, atol=1e-5, rtol=1e-4)
        blk.fold_projections = True
        folded = blk(v, q)
        torch.testing.assert_close(folded, ref, atol=1e-5, rtol=1e-4)
    # training mode ignores the folding (dropout-exact standard form)
    blk.train()
    out = blk(v, q)
    out.sum().backward()
    assert blk.a2v_attn.in_proj_weight.grad.abs().sum() > 0


# --------------------------------------------------------------------------
# BatchNorm folding
# --------------------------------------------------------------------------
def test_fold_conv_bn_equals_conv_bn_relu():
    torch.manual_seed(0)
    m = ConvModule(8, 6, 1, norm_cfg=dict(type='BN')).eval()
    bn = m.bn
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    nn.init.normal_(bn.weight)
    nn.init.normal_(bn.bias)
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        ref = m(x)
        assert fold_conv_bn(m) == 1
        torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)
    assert not m.with_norm and not hasattr(m, 'bn')
    assert m.conv.bias is not None
    assert fold_conv_bn(m) == 0
    # a training-mode BN (batch statistics) is not folded
    m2 = ConvModule(8, 6, 1, norm_cfg=dict(type='BN')).train()
    assert fold_conv_bn(m2) == 0


# --------------------------------------------------------------------------
# optimize_for_inference on the tiny model
# --------------------------------------------------------------------------
def _tiny_model(with_bank=True):
    cfg = Config.fromfile(TINY_CFG)
    if with_bank:
        protos = np.random.RandomState(0).randn(10, 64).astype(np.float32)
        cfg.model.audio_query.bank = dict(type='PrototypeBank',
                                          prototypes=protos)
    torch.manual_seed(0)
    model = init_model(cfg, None)
    # weights that exercise every folded path
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    for blk in model.alignment.blocks.values():
        for p in (blk.v2a_attn.out_proj.weight, blk.v_ffn.fc2.weight):
            nn.init.normal_(p, std=0.05)
        for attn in (blk.a2v_attn, blk.v2a_attn):
            nn.init.normal_(attn.in_proj_bias, std=0.1)
    return model


def _tiny_inputs(batch=2):
    g = torch.Generator().manual_seed(1)
    return dict(frames=torch.randn(batch, 5, 3, 128, 128, generator=g),
                audio=0.1 * torch.randn(batch, 5, 16000, generator=g))


@pytest.fixture(scope='module')
def tiny_pair():
    model = _tiny_model()
    inputs = _tiny_inputs()
    with torch.no_grad():
        ref = model(inputs, mode='tensor')
    return model, inputs, ref


def test_optimize_for_inference_fp32_equals_eager(tiny_pair):
    model, inputs, ref = tiny_pair
    fast = optimize_for_inference(copy.deepcopy(model), dtype='fp32')
    info = fast.fast_inference
    assert info['sdpa_mit_attention'] == 4
    assert info['sdpa_htsat_attention'] == 2
    assert info['folded_alignment_blocks'] == 2
    assert info['folded_conv_bn'] == 5  # 4 level convs + fusion conv
    assert info['dtype'] == 'float32' and not info['compile']
    with torch.no_grad():
        out = fast(inputs, mode='tensor')
    assert out.dtype == torch.float32 and out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=FP32_ATOL, rtol=0)
    # eval-mode inference tensors do not break a second call
    with torch.inference_mode():
        torch.testing.assert_close(fast(inputs, mode='tensor'), out,
                                   atol=1e-6, rtol=0)


def test_optimize_for_inference_bf16_close_to_eager(tiny_pair):
    model, inputs, ref = tiny_pair
    fast = optimize_for_inference(copy.deepcopy(model), dtype='bf16')
    assert fast.backbone.layers[0][0].projection.weight.dtype == \
        torch.bfloat16
    # the log-mel front end and the preprocessor stay float32
    assert fast.audio_encoder.frontend.mel_fbank.dtype == torch.float32
    assert fast.data_preprocessor.mean.dtype == torch.float32
    with torch.no_grad():
        out = fast(inputs, mode='tensor')
    assert out.dtype == torch.float32
    err = (out - ref).abs().max()
    assert err <= BF16_REL * ref.abs().max()
    agree = ((out > 0) == (ref > 0)).float().mean()
    assert agree >= 0.99


def test_optimize_for_inference_predict_and_errors(tiny_pair):
    model, inputs, _ = tiny_pair
    fast = optimize_for_inference(copy.deepcopy(model), dtype='bf16')
    with torch.no_grad():
        samples = fast(inputs, None, mode='predict')
    assert samples[0].pred_logits.dtype == torch.float32
    assert samples[0].pred_masks.shape == (5, 128, 128)
    with pytest.raises(RuntimeError, match='already'):
        optimize_for_inference(fast)
    with pytest.raises(TypeError, match='DDAVS'):
        optimize_for_inference(nn.Linear(2, 2))
    with pytest.raises(ValueError, match='unknown dtype'):
        resolve_dtype('int8', torch.device('cpu'))
    assert resolve_dtype('auto', torch.device('cpu')) == torch.float32
    assert resolve_dtype('auto', torch.device('cuda')) == torch.bfloat16


def test_init_model_fast_flag():
    model = init_model(TINY_CFG, None, fast=True)
    assert model.fast_inference['dtype'] == 'float32'  # CPU default
    assert not model.training


# --------------------------------------------------------------------------
# tools/test.py --fast (FastInferenceHook)
# --------------------------------------------------------------------------
def test_test_tool_fast_matches_eager(tmp_path):
    import pickle
    import subprocess
    import sys

    from ddavs_mm.datasets.synthetic import generate_synthetic_avs
    root = str(tmp_path / 'ms3')
    generate_synthetic_avs(root, 'ms3', seed=0, num_train=1, num_val=1,
                           num_test=2, size=64, sample_rate=16000)
    ckpt = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=_tiny_model(with_bank=False).state_dict(),
                    meta=dict(epoch=1)), ckpt)
    env = dict(__import__('os').environ, PYTHONPATH=ROOT,
               OMP_NUM_THREADS='1')
    dumped = {}
    for name, extra in (('eager', []), ('fast', ['--fast'])):
        out = str(tmp_path / f'{name}.pkl')
        proc = subprocess.run(
            [sys.executable, 'tools/test.py', TINY_CFG, ckpt, '--work-dir',
             str(tmp_path / name), '--out', out, '--cfg-options'] +
            [f'{s}_dataloader.dataset.data_root={root}'
             for s in ('train', 'val', 'test')] + extra,
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        with open(out, 'rb') as f:
            dumped[name] = pickle.load(f)
        if name == 'fast':
            assert 'FastInferenceHook: testing on the fast path' in \
                proc.stdout + proc.stderr
    assert len(dumped['fast']) == len(dumped['eager']) == 2
    for a, b in zip(dumped['eager'], dumped['fast']):
        assert b['pred_logits'].dtype == torch.float32
        torch.testing.assert_close(b['pred_logits'], a['pred_logits'],
                                   atol=FP32_ATOL, rtol=0)
        assert (a['pred_masks'] == b['pred_masks']).float().mean() >= 0.999


def test_sdpa_mit_with_cp_same_gradients():
    torch.manual_seed(0)
    plain = MODELS.build(dict(type='SDPAMixVisionTransformer',
                              **_mit_kwargs())).train()
    ckpt = MODELS.build(dict(type='SDPAMixVisionTransformer', with_cp=True,
                             **_mit_kwargs())).train()
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads = []
    for m in (plain, ckpt):
        m.zero_grad()
        sum(o.square().sum() for o in m(x)).backward()
        grads.append([p.grad.clone() for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_optimize_converts_a_plain_mmseg_mit():
    """A config naming mmseg's MixVisionTransformer gets SDPA attention from
    the fast path, with the same outputs (the alignment at the decode head
    input: a plain MiT has no stage-wise forward)."""
    model = init_model(TINY_CFG, None, cfg_options={
        'model.backbone.type': 'MixVisionTransformer',
        'model.alignment.fusion_position': 'head'})
    assert not any(isinstance(m, SDPAEfficientMultiheadAttention)
                   for m in model.modules())
    inputs = _tiny_inputs(batch=1)
    with torch.no_grad():
        ref = model(inputs, mode='tensor')
        fast = optimize_for_inference(model)
        assert fast.fast_inference['sdpa_mit_attention'] == 4
        torch.testing.assert_close(fast(inputs, mode='tensor'), ref,
                                   atol=FP32_ATOL, rtol=0)
