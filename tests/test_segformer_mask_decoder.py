"""SegformerMaskDecoder as a subclass of mmseg's SegformerHead: the module
and state-dict layout it had as a standalone module, and its output."""
import warnings

import pytest
import torch
import torch.nn.functional as F

import ddavs_mm  # noqa: F401  (before mmseg.models: see ddavs_mm/__init__)
from ddavs_mm.models.heads import SegformerMaskDecoder

IN_CHANNELS = (4, 8, 12, 16)
CHANNELS = 8


def _old_layout_state(num_classes, seed=0):
    """A state dict with the keys and shapes of the decoder before it
    subclassed SegformerHead (ConvModule = conv without bias + 'bn')."""
    g = torch.Generator().manual_seed(seed)

    def bn(prefix, n):
        return {
            f'{prefix}.weight': torch.rand(n, generator=g) + 0.5,
            f'{prefix}.bias': torch.randn(n, generator=g) * 0.2,
            f'{prefix}.running_mean': torch.randn(n, generator=g) * 0.3,
            f'{prefix}.running_var': torch.rand(n, generator=g) + 0.5,
            f'{prefix}.num_batches_tracked': torch.tensor(7),
        }

    state = {}
    for i, c in enumerate(IN_CHANNELS):
        state[f'convs.{i}.conv.weight'] = torch.randn(
            CHANNELS, c, 1, 1, generator=g) * 0.5
        state.update(bn(f'convs.{i}.bn', CHANNELS))
    state['fusion_conv.conv.weight'] = torch.randn(
        CHANNELS, CHANNELS * len(IN_CHANNELS), 1, 1, generator=g) * 0.3
    state.update(bn('fusion_conv.bn', CHANNELS))
    state['conv_seg.weight'] = torch.randn(
        num_classes, CHANNELS, 1, 1, generator=g)
    state['conv_seg.bias'] = torch.randn(num_classes, generator=g)
    return state


def _by_hand(state, feats):
    """SegFormer's head in eval mode, written out from the state dict."""

    def conv_bn_relu(x, prefix):
        x = F.conv2d(x, state[f'{prefix}.conv.weight'])
        x = F.batch_norm(x, state[f'{prefix}.bn.running_mean'],
                         state[f'{prefix}.bn.running_var'],
                         state[f'{prefix}.bn.weight'],
                         state[f'{prefix}.bn.bias'], eps=1e-5)
        return F.relu(x)

    size = feats[0].shape[-2:]
    levels = [
        F.interpolate(conv_bn_relu(x, f'convs.{i}'), size=size,
                      mode='bilinear', align_corners=False)
        for i, x in enumerate(feats)
    ]
    fused = conv_bn_relu(torch.cat(levels, 1), 'fusion_conv')
    return F.conv2d(fused, state['conv_seg.weight'], state['conv_seg.bias'])


def _feats(n=2, size=16):
    g = torch.Generator().manual_seed(1)
    return [torch.randn(n, c, size // 2**i, size // 2**i, generator=g)
            for i, c in enumerate(IN_CHANNELS)]


@pytest.mark.parametrize('num_classes', [1, 3])
def test_old_state_dict_loads_strictly_and_gives_the_same_output(
        num_classes):
    from mmseg.models.decode_heads import SegformerHead
    dec = SegformerMaskDecoder(IN_CHANNELS, channels=CHANNELS,
                               num_classes=num_classes)
    assert isinstance(dec, SegformerHead)
    state = _old_layout_state(num_classes)
    assert set(dec.state_dict()) == set(state)
    dec.load_state_dict(state, strict=True)
    dec.eval()
    feats = _feats()
    with torch.no_grad():
        out = dec(feats)
        expect = _by_hand(state, feats)
        assert out.shape == (2, num_classes, 16, 16)
        torch.testing.assert_close(out, expect, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(dec.classify(dec.fuse_concat(feats)),
                                   expect, rtol=1e-5, atol=1e-5)


def test_pretrained_head_file_loads_with_prefix(tmp_path):
    state = _old_layout_state(1, seed=3)
    path = str(tmp_path / 'head.pth')
    ckpt = {f'head.{k}': v for k, v in state.items()}
    ckpt['backbone.x'] = torch.zeros(1)  # other entries are left out
    torch.save(dict(state_dict=ckpt), path)
    dec = SegformerMaskDecoder(
        IN_CHANNELS, channels=CHANNELS, num_classes=1,
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='head.'))
    dec.init_weights()
    for k, v in dec.state_dict().items():
        torch.testing.assert_close(v, state[k], msg=k)


def test_binary_decoder_settings():
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no BaseDecodeHead warnings
        dec = SegformerMaskDecoder(IN_CHANNELS, channels=CHANNELS,
                                   num_classes=1, dropout_ratio=0.0)
    assert dec.out_channels == 1 and dec.threshold == 0.5
    assert dec.dropout is None and len(dec.loss_decode) == 0
    assert dec.in_index == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='levels'):
        dec(_feats()[:3])
