"""Bilinear resizing by matrix products, and the SegFormer fusion that uses
it: same values and gradients as the F.interpolate / concatenation path."""
import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule

import ddavs_mm  # noqa: F401
from ddavs_mm.models.heads import SegformerMaskDecoder
from ddavs_mm.models.utils import bilinear_resize_matrix, resize_bilinear


def test_matrix_hand_computed():
    # 2 -> 4, half-pixel centres: sources -0.25 (clamped to 0), 0.25, 0.75,
    # 1.25 (right neighbour clamped to the last pixel)
    expected = torch.tensor([[1., 0.], [.75, .25], [.25, .75], [0., 1.]])
    torch.testing.assert_close(bilinear_resize_matrix(2, 4), expected)
    # align_corners: sources 0, 1/3, 2/3, 1
    expected = torch.tensor([[1., 0.], [2 / 3, 1 / 3], [1 / 3, 2 / 3],
                             [0., 1.]])
    torch.testing.assert_close(bilinear_resize_matrix(2, 4, True), expected)
    for n_in, n_out in ((7, 3), (4, 32), (1, 5), (5, 1)):
        rows = bilinear_resize_matrix(n_in, n_out).sum(1)
        torch.testing.assert_close(rows, torch.ones(n_out))


@pytest.mark.parametrize('align_corners', [False, True])
@pytest.mark.parametrize('shape,size', [((4, 4), (32, 32)),
                                        ((16, 8), (32, 32)),
                                        ((32, 32), (128, 128)),
                                        ((5, 7), (13, 3)),
                                        ((8, 8), (4, 4)),
                                        ((1, 1), (3, 2))])
def test_resize_matches_interpolate(shape, size, align_corners):
    x = torch.randn(2, 3, *shape, dtype=torch.float64, requires_grad=True)
    ref = F.interpolate(x, size=size, mode='bilinear',
                        align_corners=align_corners)
    out = resize_bilinear(x, size, align_corners)
    assert out.shape == (2, 3, *size)
    torch.testing.assert_close(out, ref)
    grad = torch.randn_like(ref)
    g_ref, = torch.autograd.grad(ref, x, grad)
    g_out, = torch.autograd.grad(out, x, grad)
    torch.testing.assert_close(g_out, g_ref)


def test_matrices_cached_under_inference_mode_serve_autograd_later():
    # the first call (e.g. a benchmark or demo) may run in inference mode;
    # training in the same process must still backpropagate through the
    # cached matrices
    with torch.inference_mode():
        resize_bilinear(torch.randn(1, 2, 3, 5), (11, 7))
        resize_bilinear(torch.randn(1, 2, 3, 5, dtype=torch.float64),
                        (11, 7))
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(1, 2, 3, 5, dtype=dtype, requires_grad=True)
        grad, = torch.autograd.grad(resize_bilinear(x, (11, 7)).sum(), x)
        ref, = torch.autograd.grad(
            F.interpolate(x, size=(11, 7), mode='bilinear').sum(), x)
        torch.testing.assert_close(grad, ref)


def test_resize_same_size_and_errors():
    x = torch.randn(1, 2, 4, 4)
    assert resize_bilinear(x, (4, 4)) is x
    with pytest.raises(ValueError, match='size'):
        resize_bilinear(x, (4, ))
    with pytest.raises(ValueError, match='>= 1'):
        bilinear_resize_matrix(0, 4)


def _decoder_and_feats(in_channels=(8, 16, 24, 32), size=16):
    torch.manual_seed(0)
    dec = SegformerMaskDecoder(list(in_channels), channels=12, num_classes=1,
                               dropout_ratio=0.0).double()
    feats = [torch.randn(3, c, size // 2**i, size // 2**i,
                         dtype=torch.float64, requires_grad=True)
             for i, c in enumerate(in_channels)]
    return dec, feats


@pytest.mark.parametrize('mode', ['train', 'eval'])
def test_fuse_equals_concatenation(mode):
    dec, feats = _decoder_and_feats()
    getattr(dec, mode)()
    fast = dec.fuse(feats)
    grad = torch.randn_like(fast)
    params = [p for p in dec.parameters() if p.requires_grad]
    g_fast = torch.autograd.grad(fast, params + feats, grad,
                                 allow_unused=True)
    ref = dec.fuse_concat(feats)
    g_ref = torch.autograd.grad(ref, params + feats, grad, allow_unused=True)
    assert fast.shape == (3, 12, 16, 16)
    torch.testing.assert_close(fast, ref)
    for a, b in zip(g_fast, g_ref):
        if a is None or b is None:
            assert a is None and b is None  # e.g. conv_seg in fuse
        else:
            torch.testing.assert_close(a, b)


def test_fuse_levels_of_equal_size_and_biased_fusion():
    # two levels at the output size (no upsampling) and a fusion conv with
    # a bias (no norm)
    dec, _ = _decoder_and_feats()
    dec.fusion_conv = ConvModule(48, 12, 1, norm_cfg=None,
                                 act_cfg=dict(type='ReLU')).double()
    feats = [torch.randn(2, c, s, s, dtype=torch.float64)
             for c, s in zip((8, 16, 24, 32), (16, 16, 8, 4))]
    assert dec.fusion_conv.conv.bias is not None
    torch.testing.assert_close(dec.fuse(feats), dec.fuse_concat(feats))


def test_fuse_falls_back_for_another_conv_module_order():
    dec, feats = _decoder_and_feats()
    dec.fusion_conv = ConvModule(
        48, 12, 1, norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU'),
        order=('conv', 'act', 'norm')).double().eval()
    torch.testing.assert_close(dec.fuse(feats), dec.fuse_concat(feats))
    with pytest.raises(ValueError, match='levels'):
        dec.fuse(feats[:3])
