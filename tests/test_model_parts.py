"""Unit tests of the DDAVS model parts (bank, AQM, COM, AVAM, decoder,
losses) on tiny random tensors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ddavs_mm  # noqa: F401
from ddavs_mm.models.audio_query import (AudioQueryModule, PrototypeBank,
                                         load_bank, save_bank)
from ddavs_mm.models.heads import (ContrastiveHead, CrossAlignmentBlock,
                                   DelayedAVAMDecoder, SegformerMaskDecoder,
                                   StageAlignment)
from ddavs_mm.models.losses import (AVSCrossEntropyLoss, AVSDiceLoss,
                                    AVSFocalLoss, AVSIoULoss)
from ddavs_mm.registry import MODELS

EPS = 1e-6
TINY_QFORMER = dict(num_hidden_layers=1, num_attention_heads=4,
                    intermediate_size=64, hidden_dropout_prob=0.0,
                    attention_probs_dropout_prob=0.0)


def logit(p):
    p = torch.as_tensor(p, dtype=torch.float64)
    return torch.log(p / (1 - p)).float()


# --------------------------------------------------------------- bank
@pytest.mark.parametrize('suffix', ['.pt', '.npz', '.npy'])
def test_bank_round_trip(tmp_path, suffix):
    protos = torch.randn(6, 8)
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    names = ['background', 'dog', 'guitar']
    info = dict(encoder='HTSAT', k=2, seed=0)
    path = str(tmp_path / 'sub' / f'bank{suffix}')
    save_bank(path, protos, ids, names, info)
    data = load_bank(path)
    assert torch.allclose(data['prototypes'], protos)
    assert torch.equal(data['class_ids'], ids)
    if suffix != '.npy':
        assert data['class_names'] == names
        assert data['build_info'] == info
    bank = MODELS.build(dict(type='PrototypeBank', bank_path=path))
    assert bank.num_prototypes == 6 and bank.embed_dims == 8
    assert torch.allclose(bank(), protos)


def test_bank_ddeseg_layout(tmp_path):
    arr = np.random.randn(3, 5, 16).astype(np.float32)  # [C, K, d]
    path = tmp_path / '1s_k5_feabank.npy'
    np.save(path, arr)
    bank = PrototypeBank(bank_path=str(path))
    assert bank.prototypes.shape == (15, 16)
    assert torch.allclose(bank.prototypes[5], torch.from_numpy(arr[1, 0]))
    assert bank.class_ids.tolist() == [0] * 5 + [1] * 5 + [2] * 5


def test_bank_is_fixed_buffer(tmp_path):
    bank = PrototypeBank(prototypes=torch.randn(4, 8), class_ids=[0, 0, 1, 1])
    assert len(list(bank.parameters())) == 0
    assert not bank.prototypes.requires_grad
    sd = bank.state_dict()
    assert set(sd) == {'prototypes', 'class_ids'}  # persistent: in ckpts
    bank.double()  # moves with .to()/.double() like any buffer
    assert bank.prototypes.dtype == torch.float64
    assert bank.class_ids.dtype == torch.long


def test_bank_errors(tmp_path):
    missing = str(tmp_path / 'nope.npy')
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        PrototypeBank(bank_path=missing)
    with pytest.raises(FileNotFoundError, match='nope.npy'):
        AudioQueryModule(in_channels=16, embed_dims=16,
                         qformer_cfg=TINY_QFORMER,
                         bank=dict(type='PrototypeBank', bank_path=missing))
    with pytest.raises(ValueError, match='exactly one'):
        PrototypeBank()
    bad = torch.randn(4, 8)
    bad[0, 0] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        save_bank(str(tmp_path / 'b.pt'), bad, [0, 0, 1, 1])
    path = str(tmp_path / 'b12.pt')
    save_bank(path, torch.randn(4, 12), [0, 0, 1, 1])
    with pytest.raises(ValueError, match='d=12'):
        AudioQueryModule(in_channels=16, embed_dims=16,
                         qformer_cfg=TINY_QFORMER,
                         bank=dict(type='PrototypeBank', bank_path=path))
    with pytest.raises(ValueError, match='class-major'):
        save_bank(str(tmp_path / 'b.npy'), torch.randn(3, 4), [0, 1, 1])
    (tmp_path / 'corrupt.npz').write_bytes(b'not a zip')
    with pytest.raises(ValueError, match='corrupt.npz'):
        load_bank(str(tmp_path / 'corrupt.npz'))


# ---------------------------------------------------------------- AQM
def _aqm(bank=None, **kw):
    cfg = dict(in_channels=24, embed_dims=16, num_queries=3,
               qformer_cfg=TINY_QFORMER, bank=bank)
    cfg.update(kw)
    return AudioQueryModule(**cfg)


def test_aqm_shapes_and_no_bank():
    m = _aqm().eval()
    tokens = torch.randn(2, 7, 24)
    q = m(tokens)
    assert q.shape == (2, 3, 16)
    q_a = m.generate_queries(tokens)
    assert torch.allclose(q, F.layer_norm(q_a, (16, )), atol=1e-5)
    with pytest.raises(ValueError, match='tokens'):
        m(torch.randn(2, 7, 16))


def test_aqm_bank_refinement_matches_eq4():
    protos = torch.randn(5, 16)
    m = AudioQueryModule(
        in_channels=16, embed_dims=16, num_queries=2,
        qformer_cfg=TINY_QFORMER, gamma=0.5,
        bank=dict(type='PrototypeBank', prototypes=protos)).eval()
    with torch.no_grad():
        for lin in (m.w_q, m.w_k, m.w_v):
            lin.weight.copy_(torch.eye(16))
    q_a = torch.randn(3, 2, 16)
    q, attn = m.refine(q_a, return_attn=True)
    a = torch.softmax(q_a @ protos.t() / 4.0, dim=-1)  # sqrt(16) = 4
    expected = F.layer_norm(q_a + 0.5 * a @ protos, (16, ))
    assert torch.allclose(attn, a, atol=1e-6)
    assert torch.allclose(q, expected, atol=1e-5)


def test_aqm_gradients_skip_bank():
    m = _aqm(bank=dict(type='PrototypeBank', prototypes=torch.randn(6, 24)))
    m(torch.randn(2, 5, 24)).pow(2).sum().backward()
    assert m.query_embeds.grad is not None and m.query_embeds.grad.abs().sum()
    assert m.w_k.weight.grad.abs().sum() > 0
    assert m.bank.prototypes.grad is None
    assert not m.bank.prototypes.requires_grad


# ---------------------------------------------------------------- COM
def test_infonce_hand_computed():
    head = ContrastiveHead(in_channels=2, num_layers=0, temperature=0.5,
                           loss_weight=2.0, negatives='slots')
    q = torch.tensor([[[1., 0.], [0., 3.]]])           # z = e1, e2
    q_aug = torch.tensor([[[2., 0.], [0.6, 0.8]]])     # z' = e1, (.6, .8)
    # s = [[1, .6], [0, .8]] / tau
    l1 = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(1.2)))
    l2 = -math.log(math.exp(1.6) / (math.exp(0.0) + math.exp(1.6)))
    expected = 2.0 * (l1 + l2) / 2
    out = head.loss(q, q_aug)
    assert set(out) == {'loss_con'}
    assert out['loss_con'].item() == pytest.approx(expected, rel=1e-5)
    # mean over samples: a second, identical sample leaves it unchanged
    out2 = head.loss(q.repeat(2, 1, 1), q_aug.repeat(2, 1, 1))
    assert out2['loss_con'].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError):
        head.loss(q, q_aug[:, :1])


def test_infonce_batch_negatives_hand_computed():
    head = ContrastiveHead(in_channels=2, num_layers=0, temperature=0.5,
                           loss_weight=1.0, negatives='batch')
    # two samples of one query each: with slot negatives the loss would be 0
    q = torch.tensor([[[1., 0.]], [[0., 1.]]])
    q_aug = torch.tensor([[[0.6, 0.8]], [[0., 1.]]])
    # s = [[.6, 0], [.8, 1]] / tau over the 2 candidates of the batch
    l1 = -math.log(math.exp(1.2) / (math.exp(1.2) + math.exp(0.0)))
    l2 = -math.log(math.exp(2.0) / (math.exp(1.6) + math.exp(2.0)))
    out = head.loss(q, q_aug)['loss_con'].item()
    assert out == pytest.approx((l1 + l2) / 2, rel=1e-5)
    slots = ContrastiveHead(in_channels=2, num_layers=0, negatives='slots')
    assert slots.loss(q, q_aug)['loss_con'].item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match='negatives'):
        ContrastiveHead(in_channels=2, negatives='all')


def test_contrastive_projector_grad():
    head = ContrastiveHead(in_channels=8, hidden_channels=16,
                           out_channels=4)
    q = torch.randn(3, 5, 8, requires_grad=True)
    head.loss(q, q + 0.1 * torch.randn_like(q))['loss_con'].backward()
    assert q.grad.abs().sum() > 0
    assert all(p.grad is not None for p in head.parameters())


# ---------------------------------------------------------------- AVAM
@pytest.mark.parametrize('norm_position', ['pre', 'post'])
def test_cross_alignment_block(norm_position):
    blk = CrossAlignmentBlock(visual_channels=32, query_channels=16,
                              num_heads=4, norm_position=norm_position)
    blk.init_weights()
    v = torch.randn(2, 20, 32)
    q = torch.randn(2, 5, 16)
    out, h_a = blk(v, q, return_queries=True)
    assert out.shape == v.shape and h_a.shape == (2, 5, 32)
    if norm_position == 'pre':  # zero-init visual update: exact identity
        assert torch.equal(out, v)
    else:  # identity up to LayerNorm
        assert torch.allclose(out, F.layer_norm(F.layer_norm(v, (32, )),
                                                (32, )), atol=1e-5)
    # the untrained block is identity, but it learns: the zero-init output
    # projection gets a gradient, and once non-zero the audio changes H_v
    out.pow(2).sum().backward()
    assert blk.v2a_attn.out_proj.weight.grad.abs().sum() > 0
    with torch.no_grad():
        blk.v2a_attn.out_proj.weight.normal_()
    out1 = blk(v, q)
    out2 = blk(v, torch.randn(2, 5, 16))
    assert not torch.allclose(out1, out2)
    with pytest.raises(ValueError):
        blk(v, torch.randn(2, 5, 8))


def test_decoder_query_readout():
    dec = DelayedAVAMDecoder(
        in_channels=[4, 4, 4, 4], query_channels=3, query_readout=True,
        mask_decoder=dict(type='SegformerMaskDecoder', channels=4))
    with torch.no_grad():
        dec.readout_proj.weight.copy_(torch.eye(4, 3))
        dec.readout_proj.bias.zero_()
    # pixel (0, 0) = e_0, pixel (0, 1) = 2 e_1; queries e_0 and -e_1
    fused = torch.zeros(1, 4, 1, 2)
    fused[0, 0, 0, 0] = 1.
    fused[0, 1, 0, 1] = 2.
    q = torch.tensor([[[1., 0., 0.], [0., -1., 0.]]])
    out = dec.query_readout(fused, q)
    # max over queries of the dot product, / sqrt(4)
    assert torch.allclose(out, torch.tensor([[[[1. / 2, 0.]]]]))
    dec.eval()
    feats = [torch.randn(2, 4, 16 // 2**i, 16 // 2**i) for i in range(4)]
    q = torch.randn(2, 5, 3)
    md = dec.mask_decoder
    expected = md.classify(md.fuse(feats)) + dec.query_readout(
        md.fuse(feats), q)
    assert torch.allclose(dec(feats, q), expected)
    # one projection per output map
    sem = DelayedAVAMDecoder(
        in_channels=[4, 4, 4, 4], query_channels=3, query_readout=True,
        mask_decoder=dict(type='SegformerMaskDecoder', channels=4,
                          num_classes=3))
    with torch.no_grad():
        sem.readout_proj.weight.zero_()
        sem.readout_proj.bias.zero_()
        sem.readout_proj.weight[8:12].copy_(torch.eye(4, 3))  # map k=2
    out = sem.query_readout(fused, torch.tensor([[[1., 0., 0.]]]))
    assert out.shape == (1, 3, 1, 2)
    assert torch.allclose(out[0, :2], torch.zeros(2, 1, 2))
    assert torch.allclose(out[0, 2], torch.tensor([[0.5, 0.]]))
    assert sem(feats, q).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match='fuse'):
        DelayedAVAMDecoder(
            in_channels=[4, 4, 4, 4], query_channels=3, query_readout=True,
            mask_decoder=dict(type='mmseg.SegformerHead',
                              in_channels=[4, 4, 4, 4], in_index=[0, 1, 2, 3],
                              channels=4, num_classes=1))
    with pytest.raises(ValueError, match='query_channels'):
        DelayedAVAMDecoder(in_channels=[4, 4, 4, 4], query_readout=True,
                      mask_decoder=dict(type='SegformerMaskDecoder',
                                        channels=4))


def test_segformer_mask_decoder():
    dec = SegformerMaskDecoder(in_channels=[8, 16, 24, 32], channels=16,
                               num_classes=3)
    feats = [torch.randn(2, c, 16 // 2**i, 16 // 2**i)
             for i, c in enumerate([8, 16, 24, 32])]
    assert dec(feats).shape == (2, 3, 16, 16)


@pytest.mark.parametrize('num_classes', [1, 5])
def test_delayed_avam_decoder(num_classes):
    """The head only decodes: the mask decoder's logits, the queries unread
    without the readout; the mask decoder gets the level widths."""
    chans = [8, 16, 32, 64]
    dec = DelayedAVAMDecoder(
        in_channels=chans,
        mask_decoder=dict(type='SegformerMaskDecoder', channels=16,
                          num_classes=num_classes)).eval()
    assert dec.mask_decoder.in_channels == chans
    assert dec.num_classes == num_classes
    assert not any('blocks' in k for k in dec.state_dict())
    feats = [torch.randn(2, c, 32 // 2**i, 32 // 2**i)
             for i, c in enumerate(chans)]
    with torch.no_grad():
        out = dec(feats, torch.randn(2, 5, 12))
        assert out.shape == (2, num_classes, 32, 32)
        assert torch.equal(out, dec.mask_decoder(feats))
        assert torch.equal(dec(feats, torch.randn(2, 5, 12)), out)
    with pytest.raises(ValueError,
                       match='DelayedAVAMDecoder expects 4 levels'):
        dec(feats[:3], torch.randn(2, 5, 12))


@pytest.mark.parametrize('position', ['encoder', 'head'])
def test_stage_alignment(position):
    chans = [8, 16, 32, 64]
    align = StageAlignment(
        in_channels=chans, query_channels=12, inject_stages=(1, 3),
        fusion_position=position).eval()
    assert sorted(align.blocks.keys()) == ['1', '3']
    assert align.acts_in_encoder == (position == 'encoder')
    for blk in align.blocks.values():
        torch.nn.init.normal_(blk.v2a_attn.out_proj.weight, std=0.5)
    feats = [torch.randn(2, c, 32 // 2**i, 32 // 2**i)
             for i, c in enumerate(chans)]
    q = torch.randn(2, 5, 12)
    with torch.no_grad():
        assert torch.equal(align.forward_stage(0, feats[0], q), feats[0])
        aligned = [align.forward_stage(i, f, q) for i, f in enumerate(feats)]
        assert torch.equal(aligned[1],
                           align.blocks['1'].forward_map(feats[1], q))
        assert not torch.allclose(aligned[1], feats[1], atol=1e-3)
        out = align(feats, q)
    # at the decode head's input only with the 'head' placement; inside
    # the encoder the blocks already acted, the input passes unchanged
    expected = aligned if position == 'head' else feats
    assert all(torch.equal(a, b) for a, b in zip(out, expected))
    with pytest.raises(ValueError, match='StageAlignment expects 4 levels'):
        align(feats[:3], q)


def test_stage_alignment_table4_rows_and_errors():
    import itertools
    for r in range(1, 5):
        for stages in itertools.combinations(range(4), r):
            align = StageAlignment(in_channels=[8, 8, 8, 8],
                                   query_channels=8, inject_stages=stages,
                                   block_cfg=dict(num_heads=1))
            assert align.inject_stages == stages
            assert sorted(align.blocks) == [str(i) for i in stages]
    with pytest.raises(ValueError, match='outside'):
        StageAlignment(inject_stages=(4, ))
    with pytest.raises(ValueError, match='fusion_position'):
        StageAlignment(fusion_position='middle')
    with pytest.raises(ValueError, match='at least one inject stage'):
        StageAlignment(inject_stages=())


def test_stage_alignment_baseline_fusion():
    chans = [8, 16, 32, 64]
    align = StageAlignment(in_channels=chans, query_channels=12,
                           with_alignment=False)
    assert len(align.blocks) == 0 and not align.acts_in_encoder
    feats = [torch.randn(2, c, 32 // 2**i, 32 // 2**i)
             for i, c in enumerate(chans)]
    q = torch.randn(2, 5, 12)
    fused = align(feats, q)
    assert torch.equal(fused[-1], feats[-1])  # zero-init projection
    with torch.no_grad():
        align.baseline_proj.bias.fill_(1.0)
        align.baseline_proj.weight.zero_()
    assert torch.allclose(align.fuse_baseline(feats, q)[-1], feats[-1] + 1)
    # W mean_i(q_i) on every position of F_4, the other levels untouched
    with torch.no_grad():
        align.baseline_proj.weight.normal_()
        bias = align.baseline_proj(q.mean(1))
        fused = align(feats, q)
    assert all(torch.equal(a, b) for a, b in zip(fused[:3], feats[:3]))
    assert torch.allclose(fused[3], feats[3] + bias[:, :, None, None])


# -------------------------------------------------------------- losses
def _binary_case():
    # one frame of 1 x 3 pixels: p = [.8, .3, (ignored)], y = [1, 0, 255]
    logits = logit([0.8, 0.3, 0.9]).view(1, 1, 1, 3)
    target = torch.tensor([[[1, 0, 255]]])
    return logits, target


def test_dice_iou_binary_hand_computed():
    logits, target = _binary_case()
    dice = 1 - (2 * 0.8 + EPS) / (0.8 + 0.3 + 1 + EPS)
    iou = 1 - (0.8 + EPS) / (0.8 + 0.3 + 1 - 0.8 + EPS)
    assert AVSDiceLoss(loss_weight=1.0)(logits, target).item() == \
        pytest.approx(dice, rel=1e-5)
    assert AVSIoULoss(loss_weight=1.0)(logits, target).item() == \
        pytest.approx(iou, rel=1e-5)
    assert AVSDiceLoss(loss_weight=5.0)(logits, target).item() == \
        pytest.approx(5 * dice, rel=1e-5)
    # per-frame mean: a second frame with a perfect empty prediction
    logits2 = torch.cat([logits, torch.full_like(logits, -30.)])
    target2 = torch.cat([target, torch.zeros_like(target)])
    assert AVSDiceLoss(loss_weight=1.0)(logits2, target2).item() == \
        pytest.approx(dice / 2, rel=1e-4)


def test_focal_and_ce_binary_hand_computed():
    logits, target = _binary_case()
    a, g = 0.25, 2.0
    f1 = -a * (1 - 0.8)**g * math.log(0.8 + EPS)
    f2 = -(1 - a) * 0.3**g * math.log(1 - 0.3 + EPS)
    assert AVSFocalLoss(alpha=a, gamma=g)(logits, target).item() == \
        pytest.approx((f1 + f2) / 2, rel=1e-5)
    ce = -(math.log(0.8) + math.log(0.7)) / 2
    assert AVSCrossEntropyLoss(loss_weight=1.0)(logits, target).item() == \
        pytest.approx(ce, rel=1e-5)


def test_semantic_losses_hand_computed():
    # 1 frame, 2 pixels, K = 3 classes; softmax probs chosen via log-probs
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    logits = probs.log().t().reshape(1, 3, 1, 2)
    target = torch.tensor([[[0, 1]]])
    # classes present: 0 and 1
    d0 = 1 - (2 * 0.7 + EPS) / (0.7 + 0.1 + 1 + EPS)
    d1 = 1 - (2 * 0.6 + EPS) / (0.2 + 0.6 + 1 + EPS)
    assert AVSDiceLoss(loss_weight=1.0)(logits, target).item() == \
        pytest.approx((d0 + d1) / 2, rel=1e-5)
    i0 = 1 - (0.7 + EPS) / (0.8 + 1 - 0.7 + EPS)
    i1 = 1 - (0.6 + EPS) / (0.8 + 1 - 0.6 + EPS)
    assert AVSIoULoss(loss_weight=1.0)(logits, target).item() == \
        pytest.approx((i0 + i1) / 2, rel=1e-5)
    ce = -(math.log(0.7) + math.log(0.6)) / 2
    assert AVSCrossEntropyLoss(loss_weight=1.0)(logits, target).item() == \
        pytest.approx(ce, rel=1e-5)
    # ignored pixels change nothing
    logits3 = torch.cat([logits, torch.randn(1, 3, 1, 1)], dim=-1)
    target3 = torch.tensor([[[0, 1, 255]]])
    assert AVSDiceLoss(loss_weight=1.0)(logits3, target3).item() == \
        pytest.approx((d0 + d1) / 2, rel=1e-5)


def test_loss_bad_input():
    with pytest.raises(ValueError, match='binary'):
        AVSDiceLoss()(torch.zeros(1, 1, 2, 2), torch.full((1, 2, 2), 3))
    with pytest.raises(ValueError, match='target'):
        AVSIoULoss()(torch.zeros(1, 1, 2, 2), torch.zeros(1, 3, 3).long())


# ------------------------------------------------------- ImageGuidedRefiner
def test_refiner_starts_as_bilinear_upsampling():
    from ddavs_mm.models.heads import ImageGuidedRefiner
    refiner = ImageGuidedRefiner(num_classes=2, channels=4, stride=2)
    refiner.init_weights()
    logits = torch.randn(3, 2, 4, 4)
    frames = torch.randn(3, 3, 16, 16)
    out = refiner(logits, frames)
    assert out.shape == (3, 2, 8, 8)
    # zero-initialised output conv: exactly the upsampled coarse logits
    up = torch.nn.functional.interpolate(logits, size=(8, 8),
                                         mode='bilinear', align_corners=False)
    assert torch.equal(out, up)
    # a constant coarse map stays constant under bilinear upsampling
    const = refiner(torch.full((1, 2, 4, 4), 1.5), torch.randn(1, 3, 16, 16))
    assert torch.allclose(const, torch.full_like(const, 1.5))
    # odd sizes: ceil(H / stride)
    assert refiner(logits, torch.randn(3, 3, 15, 13)).shape == (3, 2, 8, 7)
    assert ImageGuidedRefiner(stride=1, channels=4)(
        torch.randn(1, 1, 4, 4), torch.randn(1, 3, 16, 16)).shape == \
        (1, 1, 16, 16)


def test_refiner_learns_from_the_image():
    """The correction depends on the frame once the output conv is trained:
    fit a target that the coarse logits cannot express (the image's own
    bright pixels) and check the fit improves on the upsampled baseline."""
    from ddavs_mm.models.heads import ImageGuidedRefiner
    torch.manual_seed(0)
    refiner = ImageGuidedRefiner(num_classes=1, channels=8, stride=1,
                                 num_convs=2)
    frames = torch.randn(8, 3, 16, 16)
    target = (frames[:, 0] > 0.5).float()
    coarse = torch.zeros(8, 1, 4, 4)
    opt = torch.optim.Adam(refiner.parameters(), lr=1e-2)
    lossf = torch.nn.functional.binary_cross_entropy_with_logits
    start = lossf(refiner(coarse, frames)[:, 0], target).item()
    assert start == pytest.approx(math.log(2), abs=1e-6)  # logits all 0
    for _ in range(60):
        loss = lossf(refiner(coarse, frames)[:, 0], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * start
    assert refiner.conv_out.weight.abs().sum() > 0


def test_refiner_errors():
    from ddavs_mm.models.heads import ImageGuidedRefiner
    with pytest.raises(ValueError, match='stride'):
        ImageGuidedRefiner(stride=3)
    with pytest.raises(ValueError, match='num_convs'):
        ImageGuidedRefiner(num_convs=0)
    refiner = ImageGuidedRefiner(num_classes=1)
    with pytest.raises(ValueError, match='logits'):
        refiner(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError, match='frames'):
        refiner(torch.randn(2, 1, 4, 4), torch.randn(3, 3, 16, 16))
