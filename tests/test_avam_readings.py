"""The two readings the paper leaves open, each behind a config switch:
where an alignment block sits in an injected MiT stage
(``encoder_position``), and how the Table 3 baseline fuses the audio
(``baseline_fusion``)."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

import ddavs_mm  # noqa: F401  (registers modules)
from ddavs_mm.models.heads import AudioConditionedBlock, CrossAlignmentBlock
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def model_cfg(**alignment):
    alignment_cfg = dict(
        type='StageAlignment', query_channels=16, inject_stages=(2, 3),
        block_cfg=dict(num_heads=2))
    alignment_cfg.update(alignment)
    return dict(
        type='DDAVS',
        audio_encoder=dict(
            type='HTSATAudioEncoder', spec_size=64, num_mel_bins=16,
            patch_embeds_hidden_size=8, depths=(1, 1),
            num_attention_heads=(2, 2), window_size=4, hidden_size=16,
            drop_path_rate=0.0,
            frontend=dict(sample_rate=16000, n_fft=512, hop_length=160,
                          n_mels=16, f_min=50.0, f_max=8000.0)),
        audio_query=None,
        contrastive_head=None,
        backbone=dict(type='FreezableMixVisionTransformer', embed_dims=8,
                      num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]),
        alignment=alignment_cfg,
        decode_head=dict(
            type='DelayedAVAMDecoder', in_channels=[8, 16, 32, 64],
            mask_decoder=dict(type='SegformerMaskDecoder', channels=16,
                              num_classes=1, dropout_ratio=0.)))


def randomise_(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 32, 32, generator=g), \
        torch.randn(2, 16000, generator=g) * 0.1


def run_stages(model, frames, queries, before):
    """MiT's stages written out, with the blocks applied by hand."""
    x, outs = frames, []
    for i, (embed, layers, norm) in enumerate(model.backbone.layers):
        x, (h, w) = embed(x)
        block = model.alignment.blocks[str(i)] \
            if str(i) in model.alignment.blocks else None
        if before and block is not None:
            x = block(x, queries)
        for layer in layers:
            x = layer(x, (h, w))
        x = norm(x)
        if not before and block is not None:
            x = block(x, queries)
        x = x.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        outs.append(x)
    return outs


@pytest.mark.parametrize('position', ['after_stage', 'before_blocks'])
def test_encoder_position_matches_the_stage_written_out(position):
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(encoder_position=position)).eval()
    randomise_(model.alignment.blocks)
    frames, audio = inputs()
    with torch.no_grad():
        queries = model.extract_queries(audio)
        feats = model.extract_feats(frames, queries)
        ref = run_stages(model, frames, queries,
                         before=position == 'before_blocks')
    assert [f.shape[1] for f in feats] == [8, 16, 32, 64]
    for ours, theirs in zip(feats, ref):
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_the_two_positions_share_weights_and_differ_in_output():
    torch.manual_seed(0)
    after = MODELS.build(model_cfg()).eval()
    before = MODELS.build(model_cfg(encoder_position='before_blocks')).eval()
    frames, audio = inputs()
    with torch.no_grad():
        # zero-initialised pre-LN blocks: both are the visual encoder alone
        before.load_state_dict(after.state_dict())
        plain = after.backbone(frames)
        q = after.extract_queries(audio)
        for feats in (after.extract_feats(frames, q),
                      before.extract_feats(frames, q)):
            for a, b in zip(feats, plain):
                assert torch.equal(a, b)
        randomise_(after.alignment.blocks)
        before.load_state_dict(after.state_dict())
        fa = after.extract_feats(frames, q)
        fb = before.extract_feats(frames, q)
    assert torch.equal(fa[1], fb[1])  # stages 0, 1 carry no block
    assert not torch.allclose(fa[3], fb[3], atol=1e-3)


def test_audio_conditioned_block_hand_computed():
    blk = AudioConditionedBlock(visual_channels=4, query_channels=3,
                                num_heads=1, ffn_ratio=2.0)
    blk.init_weights()
    v = torch.randn(2, 5, 4)
    q = torch.randn(2, 1, 3)
    assert torch.equal(blk(v, q), v)  # zero-initialised updates: identity
    g = torch.Generator().manual_seed(3)
    attn = blk.layer.multihead_attn
    with torch.no_grad():
        attn.out_proj.weight.copy_(torch.randn(4, 4, generator=g))
        attn.out_proj.bias.copy_(torch.randn(4, generator=g))
    # one audio query: every visual token gets out_proj(W_v m + b_v), m the
    # projected query (self-attention and FFN updates are still zero)
    m = blk.query_proj(q)
    w_v = attn.in_proj_weight[8:]
    b_v = attn.in_proj_bias[8:]
    upd = (m @ w_v.t() + b_v) @ attn.out_proj.weight.t() + attn.out_proj.bias
    with torch.no_grad():
        assert torch.allclose(blk(v, q), v + upd, atol=1e-5)
    with pytest.raises(ValueError, match='AudioConditionedBlock'):
        blk(v, torch.randn(2, 1, 4))


def test_baseline_fusion_blocks_and_bias():
    torch.manual_seed(0)
    bias = MODELS.build(model_cfg(with_alignment=False)).eval()
    blocks = MODELS.build(model_cfg(with_alignment=False,
                                    baseline_fusion='blocks')).eval()
    assert bias.alignment.inject_stages == ()
    assert isinstance(bias.alignment.baseline_proj, nn.Linear)
    assert blocks.alignment.baseline_proj is None
    assert blocks.alignment.inject_stages == (2, 3)
    assert all(isinstance(b, AudioConditionedBlock)
               for b in blocks.alignment.blocks.values())
    assert not any(isinstance(m, CrossAlignmentBlock)
                   for m in blocks.modules())
    frames, audio = inputs()
    with torch.no_grad():
        # both start as the visual model: identical logits for any audio
        blocks.backbone.load_state_dict(bias.backbone.state_dict())
        blocks.decode_head.mask_decoder.load_state_dict(
            bias.decode_head.mask_decoder.state_dict())
        q = bias.extract_queries(audio)
        out_bias = bias._decode(frames, q)
        assert torch.allclose(blocks._decode(frames, q), out_bias, atol=1e-6)
        # trained blocks make the logits depend on the audio
        randomise_(blocks.alignment.blocks)
        a = blocks._decode(frames, q)
        b = blocks._decode(frames, q.flip(0))
    assert not torch.allclose(a, b, atol=1e-4)
    # the blocks may also sit at the decoder input
    head = MODELS.build(model_cfg(with_alignment=False,
                                  baseline_fusion='blocks',
                                  fusion_position='head'))
    assert set(head.alignment.blocks) == {'2', '3'}


def test_bad_readings_are_errors():
    with pytest.raises(ValueError, match='encoder_position'):
        MODELS.build(model_cfg(encoder_position='inside'))
    with pytest.raises(ValueError, match='fusion_position="encoder"'):
        MODELS.build(model_cfg(encoder_position='before_blocks',
                               fusion_position='head'))
    with pytest.raises(ValueError, match='baseline_fusion'):
        MODELS.build(model_cfg(with_alignment=False, baseline_fusion='mlp'))
    with pytest.raises(ValueError, match='inject stage'):
        MODELS.build(model_cfg(with_alignment=False,
                               baseline_fusion='blocks', inject_stages=()))


@pytest.mark.parametrize('name, expected', [
    ('avam_before_blocks_ms3.py',
     dict(encoder_position='before_blocks', with_alignment=True)),
    ('table3_baseline_blocks_ms3.py',
     dict(baseline_fusion='blocks', with_alignment=False)),
    ('table3_aqm_blocks_ms3.py',
     dict(baseline_fusion='blocks', with_alignment=False)),
    ('table3_aqm_com_blocks_ms3.py',
     dict(baseline_fusion='blocks', with_alignment=False)),
])
def test_reading_ablation_configs(name, expected):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'ablations', name))
    alignment = cfg.model.alignment
    for key, value in expected.items():
        assert alignment[key] == value, key
    assert tuple(alignment.inject_stages) == (2, 3)
    row = name.replace('_blocks', '')
    if row != name and osp.isfile(osp.join(ROOT, 'configs', 'ablations',
                                           row)):
        # the same Table 3 row, only the baseline fusion differs
        other = Config.fromfile(osp.join(ROOT, 'configs', 'ablations', row))
        assert other.model.audio_query == cfg.model.audio_query
        assert other.model.contrastive_head == cfg.model.contrastive_head

