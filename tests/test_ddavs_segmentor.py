"""Tests of the DDAVS segmentor: modes, shapes, gradients, the contrastive
branch, the tiny config training step and the full-size parameter count."""
import copy
import os.path as osp
from unittest import mock

import pytest
import torch
import torch.nn as nn
from mmengine import Config
from mmengine.model import BaseModule
from mmengine.structures import BaseDataElement

import ddavs_mm  # noqa: F401
from ddavs_mm.models.heads import ContrastiveHead
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAPER_PARAMS_M = 150.29


@MODELS.register_module(name='_TestStubAudioEncoder', force=True)
class StubAudioEncoder(BaseModule):
    """Stand-in audio encoder: waveform [N, S] -> L tokens of width D."""

    def __init__(self, num_tokens=4, out_channels=16, segment=64,
                 frozen=True):
        super().__init__()
        self.num_tokens, self.out_channels = num_tokens, out_channels
        self.proj = nn.Linear(segment, out_channels)
        self.segment = segment
        if frozen:
            for p in self.parameters():
                p.requires_grad_(False)

    def forward(self, waveform):
        n = waveform.shape[0]
        chunks = waveform[:, :self.num_tokens * self.segment].reshape(
            n, self.num_tokens, self.segment)
        return self.proj(chunks)


def small_model_cfg(mask_mode='binary', num_classes=1, audio_query=True,
                    with_alignment=True, contrastive=True,
                    fusion_position='encoder', bank=True, frozen=True):
    q_dims = 16
    return dict(
        type='DDAVS',
        mask_mode=mask_mode,
        num_classes=num_classes,
        audio_encoder=dict(type='_TestStubAudioEncoder', out_channels=16,
                           frozen=frozen),
        audio_query=dict(
            type='AudioQueryModule', in_channels=16, embed_dims=q_dims,
            num_queries=3,
            qformer_cfg=dict(num_hidden_layers=1, num_attention_heads=2,
                             intermediate_size=32, hidden_dropout_prob=0.,
                             attention_probs_dropout_prob=0.),
            bank=dict(type='PrototypeBank', prototypes=torch.randn(6, 16))
            if bank else None) if audio_query else None,
        contrastive_head=dict(type='ContrastiveHead', in_channels=q_dims,
                              out_channels=8) if contrastive else None,
        backbone=dict(type='FreezableMixVisionTransformer', embed_dims=8,
                      num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]),
        alignment=dict(
            type='StageAlignment', query_channels=q_dims,
            inject_stages=(2, 3), fusion_position=fusion_position,
            with_alignment=with_alignment, block_cfg=dict(num_heads=2)),
        decode_head=dict(
            type='DelayedAVAMDecoder', in_channels=[8, 16, 32, 64],
            mask_decoder=dict(type='SegformerMaskDecoder', channels=16,
                              num_classes=num_classes, dropout_ratio=0.)))


def make_batch(b=2, t=3, size=32, num_classes=1, aug=True, s=256):
    inputs = dict(frames=torch.randn(b, t, 3, size, size),
                  audio=torch.randn(b, t, s))
    if aug:
        inputs['audio_aug'] = inputs['audio'] + 0.1 * torch.randn(b, t, s)
    samples = []
    for _ in range(b):
        gt = torch.randint(0, max(num_classes, 2), (t, size, size))
        gt[:, 0, 0] = 255
        samples.append(BaseDataElement(
            gt_masks=gt, mask_flags=torch.tensor([True, False, True]),
            frame_flags=torch.ones(t, dtype=torch.bool)))
    return inputs, samples


@pytest.mark.parametrize('mask_mode,num_classes', [('binary', 1),
                                                   ('semantic', 4)])
def test_modes_and_shapes(mask_mode, num_classes):
    model = MODELS.build(small_model_cfg(mask_mode, num_classes))
    inputs, samples = make_batch(num_classes=num_classes)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_ce', 'loss_dice', 'loss_iou', 'loss_con'}
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    logits = model(inputs, None, mode='tensor')
    assert logits.shape == (6, num_classes, 8, 8)
    out = model(inputs, samples, mode='predict')
    assert out[0].pred_logits.shape == (3, num_classes, 32, 32)
    assert out[0].pred_masks.shape == (3, 32, 32)
    assert out[0].pred_masks.dtype == torch.long
    if mask_mode == 'binary':
        assert set(out[1].pred_masks.unique().tolist()) <= {0, 1}
        assert torch.equal(out[1].pred_masks,
                           (out[1].pred_logits[:, 0] > 0).long())
    else:
        assert torch.equal(out[1].pred_masks,
                           out[1].pred_logits.argmax(1))


def test_gradients_reach_trainable_parts_only():
    model = MODELS.build(small_model_cfg())
    model.init_weights()
    # untie the zero-init visual update so gradients flow through AVAM
    for blk in model.alignment.blocks.values():
        nn.init.normal_(blk.v2a_attn.out_proj.weight, std=0.02)
    inputs, samples = make_batch()
    losses = model(inputs, samples, mode='loss')
    sum(losses.values()).backward()
    aqm = model.audio_query
    assert aqm.query_embeds.grad.abs().sum() > 0
    for blk in model.alignment.blocks.values():
        assert blk.a2v_attn.in_proj_weight.grad.abs().sum() > 0
        assert blk.v2a_attn.out_proj.weight.grad.abs().sum() > 0
    assert model.decode_head.mask_decoder.conv_seg.weight.grad.abs().sum() > 0
    assert model.backbone.layers[0][0].projection.weight.grad is not None
    assert model.contrastive_head.projector[0].weight.grad.abs().sum() > 0
    assert aqm.bank.prototypes.grad is None
    assert not aqm.bank.prototypes.requires_grad
    assert all(p.grad is None for p in model.audio_encoder.parameters())


def test_unfrozen_audio_encoder_gets_gradients():
    model = MODELS.build(small_model_cfg(frozen=False))
    inputs, samples = make_batch()
    sum(model(inputs, samples, mode='loss').values()).backward()
    assert model.audio_encoder.proj.weight.grad.abs().sum() > 0


def test_loss_uses_flagged_frames_only():
    model = MODELS.build(small_model_cfg(contrastive=False)).eval()
    inputs, samples = make_batch()
    ref = model(inputs, samples, mode='loss')
    changed = copy.deepcopy(samples)
    for ds in changed:  # frame 1 has mask_flags False
        gt = ds.gt_masks.clone()
        gt[1] = 1 - gt[1].clamp(max=1)
        ds.gt_masks = gt
    new = model(inputs, changed, mode='loss')
    for k in ref:
        assert torch.allclose(ref[k], new[k])
    changed[0].gt_masks[0, 5, 5] = 1 - changed[0].gt_masks[0, 5, 5]
    assert not torch.allclose(
        model(inputs, changed, mode='loss')['loss_ce'], ref['loss_ce'])


def test_contrastive_branch_training_only():
    model = MODELS.build(small_model_cfg())
    inputs, samples = make_batch()
    with mock.patch.object(ContrastiveHead, 'forward',
                           side_effect=AssertionError('COM called')) as fw:
        model.eval()
        model(inputs, samples, mode='predict')
        model(inputs, None, mode='tensor')
        assert fw.call_count == 0
    # the augmented waveform goes through the same encoder + AQM
    model.train()
    calls = []
    orig = model.extract_queries

    def spy(audio):
        calls.append(audio)
        return orig(audio)

    with mock.patch.object(model, 'extract_queries', side_effect=spy):
        losses = model(inputs, samples, mode='loss')
    assert 'loss_con' in losses and len(calls) == 2
    assert torch.equal(calls[1], inputs['audio_aug'].flatten(0, 1))
    inputs.pop('audio_aug')
    assert 'loss_con' not in model(inputs, samples, mode='loss')


@pytest.mark.parametrize('kw', [
    dict(audio_query=False, with_alignment=False, contrastive=False),  # base
    dict(with_alignment=False, contrastive=False),  # +AQM
    dict(with_alignment=False),  # +AQM+COM
    dict(audio_query=False, contrastive=False),  # +AVAM
    dict(fusion_position='head'),  # Table 6 head position
    dict(bank=False),  # AQM without bank
])
def test_ablation_variants_run(kw):
    model = MODELS.build(small_model_cfg(**kw))
    inputs, samples = make_batch()
    losses = model(inputs, samples, mode='loss')
    assert torch.isfinite(sum(losses.values()))
    assert ('loss_con' in losses) == kw.get('contrastive', True)


def test_head_position_leaves_encoder_untouched():
    """With the blocks at the decode head's input the encoder runs as it
    is; the blocks then act on its injected levels only."""
    model = MODELS.build(small_model_cfg(fusion_position='head')).eval()
    for blk in model.alignment.blocks.values():
        nn.init.normal_(blk.v2a_attn.out_proj.weight, std=0.5)
    frames = torch.randn(2, 3, 32, 32)
    queries = torch.randn(2, 3, 16)
    with torch.no_grad(), mock.patch.object(
            type(model.backbone), 'forward_stagewise',
            side_effect=AssertionError('run stage by stage')):
        feats = model.extract_feats(frames, queries)
        ref = model.backbone(frames)
        for i in (0, 1):
            assert torch.equal(feats[i], ref[i])
        for i in (2, 3):
            aligned = model.alignment.blocks[str(i)].forward_map(
                ref[i], queries)
            assert torch.equal(feats[i], aligned)
            assert not torch.allclose(feats[i], ref[i], atol=1e-3)


def test_refiner_output_stride_and_initial_equivalence():
    """With an ImageGuidedRefiner the logits come at 1/2 of the frame, and a
    fresh refiner (zeroed output conv) gives the upsampled logits of the
    same model without it."""
    torch.manual_seed(0)
    plain = MODELS.build(small_model_cfg())
    cfg = small_model_cfg()
    cfg['refiner'] = dict(type='ImageGuidedRefiner', num_classes=1,
                          channels=4, stride=2)
    refined = MODELS.build(cfg)
    refined.refiner.init_weights()
    missing = refined.load_state_dict(plain.state_dict(), strict=False)
    assert all(k.startswith('refiner.') for k in missing.missing_keys)
    plain.eval()
    refined.eval()
    inputs, samples = make_batch()
    with torch.no_grad():
        coarse = plain(inputs, None, mode='tensor')
        fine = refined(inputs, None, mode='tensor')
    assert coarse.shape == (6, 1, 8, 8) and fine.shape == (6, 1, 16, 16)
    up = torch.nn.functional.interpolate(coarse, size=(16, 16),
                                         mode='bilinear', align_corners=False)
    assert torch.allclose(fine, up, atol=1e-6)
    refined.train()
    losses = refined(inputs, samples, mode='loss')
    sum(losses.values()).backward()
    assert refined.refiner.conv_out.weight.grad is not None
    assert refined.parameter_counts()['refiner'] == sum(
        p.numel() for p in refined.refiner.parameters())
    bad = small_model_cfg()
    bad['refiner'] = dict(type='ImageGuidedRefiner', num_classes=2)
    with pytest.raises(ValueError, match='refiner.num_classes'):
        MODELS.build(bad)


def test_config_errors():
    cfg = small_model_cfg()
    cfg['alignment']['query_channels'] = 8
    with pytest.raises(ValueError, match='alignment.query_channels=8 but '
                       'queries are 16-d'):
        MODELS.build(cfg)
    cfg = small_model_cfg()
    cfg['decode_head'].update(query_channels=8, query_readout=True)
    with pytest.raises(ValueError, match='decode_head.query_channels=8 but '
                       'queries are 16-d'):
        MODELS.build(cfg)
    cfg = small_model_cfg()
    cfg['alignment']['in_channels'] = [8, 16, 32, 32]
    with pytest.raises(ValueError, match=r'alignment.in_channels=\[8, 16, '
                       r'32, 32\] but decode_head.in_channels=\[8, 16, 32, '
                       r'64\]'):
        MODELS.build(cfg)
    with pytest.raises(ValueError, match='binary'):
        MODELS.build(small_model_cfg(num_classes=3))
    model = MODELS.build(small_model_cfg())
    with pytest.raises(ValueError, match='frames'):
        model(dict(frames=torch.randn(2, 3, 32, 32),
                   audio=torch.randn(2, 3, 256)), None, mode='tensor')


def _tiny_model_cfg():
    return Config.fromfile(
        osp.join(ROOT, 'configs/_base_/models/ddavs_tiny.py')).model


def test_tiny_config_train_step_and_predict():
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    cfg = _tiny_model_cfg()
    model = MODELS.build(cfg)
    model.init_weights()
    optim = build_optim_wrapper(
        model, dict(type='OptimWrapper',
                    optimizer=dict(type='AdamW', lr=1e-3,
                                   weight_decay=0.05)))
    b, t, size = 1, 3, 64
    data = dict(
        inputs=[dict(frames=torch.randint(0, 256, (t, 3, size, size),
                                          dtype=torch.uint8),
                     audio=0.1 * torch.randn(t, 16000),
                     audio_aug=0.1 * torch.randn(t, 16000))
                for _ in range(b)],
        data_samples=make_batch(b, t, size)[1])
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    log_vars = model.train_step(data, optim)
    assert {'loss', 'loss_ce', 'loss_dice', 'loss_iou', 'loss_con'} <= \
        set(log_vars)
    after = dict(model.named_parameters())
    for name in ('audio_query.query_embeds',
                 'decode_head.mask_decoder.conv_seg.weight',
                 'backbone.layers.0.0.projection.weight'):
        assert not torch.equal(before[name], after[name]), name
    for name, p in model.audio_encoder.named_parameters():  # frozen HTSAT
        assert torch.equal(before['audio_encoder.' + name], p), name
    data['inputs'] = [{k: v for k, v in d.items() if k != 'audio_aug'}
                      for d in data['inputs']]
    out = model.val_step(data)
    assert out[0].pred_masks.shape == (t, size, size)
    assert out[0].pred_logits.shape == (t, 1, size, size)


def test_full_size_parameter_count():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/ddavs_mitb5_htsat_ms3.py')).model
    # the configured bank file may be absent: use a bank of the paper's size
    # (71 classes x 5 prototypes x 768) so W_Q/W_K/W_V are counted
    cfg.audio_query.bank = dict(type='PrototypeBank',
                                prototypes=torch.zeros(71 * 5, 768))
    cfg.backbone.init_cfg = None
    cfg.audio_encoder.pretrained = None
    model = MODELS.build(cfg)
    counts = model.parameter_counts()
    print('\nDDAVS full-size parameter counts (paper: 150.29 M)')
    print(model.format_parameter_counts())
    total_m = counts['total_inference'] / 1e6
    assert abs(total_m - PAPER_PARAMS_M) / PAPER_PARAMS_M < 0.10, total_m
    assert abs(counts['backbone'] / 1e6 - 81.4) < 0.5
    assert abs(counts['audio_encoder'] / 1e6 - 27.5) < 0.5
