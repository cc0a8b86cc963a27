"""FreezableMixVisionTransformer: MiT with OpenMMLab's ``frozen_stages`` and a
stage-wise forward (``StageWiseBackbone``)."""
import pytest
import torch

from ddavs_mm.models.backbones import StageWiseBackbone
from ddavs_mm.registry import MODELS

TINY = dict(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
            sr_ratios=[4, 2, 1, 1])


def _build(**kw):
    return MODELS.build(dict(type='FreezableMixVisionTransformer', **TINY,
                             **kw))


def test_same_outputs_as_mit_with_the_same_weights():
    torch.manual_seed(0)
    mit = MODELS.build(dict(type='MixVisionTransformer', **TINY))
    frozen = _build(frozen_stages=2)
    frozen.load_state_dict(mit.state_dict())
    mit.eval(), frozen.eval()
    x = torch.randn(2, 3, 32, 32)
    for a, b in zip(mit(x), frozen(x)):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-6)


def test_frozen_stages_get_no_gradient_and_stay_in_eval_mode():
    torch.manual_seed(0)
    model = _build(frozen_stages=2, drop_rate=0.5)
    model.train()
    for i, layer in enumerate(model.layers):
        assert layer.training == (i >= 2)
        assert all(p.requires_grad == (i >= 2) for p in layer.parameters())
    outs = model(torch.randn(2, 3, 32, 32))
    sum(o.sum() for o in outs).backward()
    for i, layer in enumerate(model.layers):
        grads = [p.grad for p in layer.parameters()]
        if i < 2:
            assert all(g is None for g in grads)
        else:
            assert all(g is not None for g in grads)
    # the frozen stages are deterministic in train mode (dropout off)
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(model(x)[1], model(x)[1])


@pytest.mark.parametrize('frozen, trainable', [(0, 4), (-1, 4), (4, 0)])
def test_frozen_stage_counts(frozen, trainable):
    model = _build(frozen_stages=frozen)
    assert sum(any(p.requires_grad for p in layer.parameters())
               for layer in model.layers) == trainable


def test_bad_frozen_stages():
    with pytest.raises(ValueError, match='frozen_stages'):
        _build(frozen_stages=5)
    with pytest.raises(ValueError, match='frozen_stages'):
        _build(frozen_stages=-2)


@pytest.mark.parametrize('position', ['after_stage', 'before_blocks'])
def test_mit_stagewise_forward_calls_the_hook_at_every_stage(position):
    torch.manual_seed(0)
    mit = _build(out_indices=(1, 3)).eval()
    assert isinstance(mit, StageWiseBackbone)
    x = torch.randn(2, 3, 32, 32)
    calls = []

    def record(i, feat):
        calls.append((i, tuple(feat.shape)))
        return feat

    with torch.no_grad():
        outs = mit.forward_stagewise(x, record, position=position)
        ref = mit(x)
    # every stage, in order, at the stage's width (embed_dims * heads) and
    # stride (4, 8, 16, 32)
    assert calls == [(i, (2, 8 * h, 32 // 2**(i + 2), 32 // 2**(i + 2)))
                     for i, h in enumerate(TINY['num_heads'])]
    assert len(outs) == len(ref) == 2
    assert all(torch.equal(a, b) for a, b in zip(outs, ref))


def test_mit_stagewise_forward_uses_what_the_hook_returns():
    torch.manual_seed(0)
    mit = _build().eval()
    x = torch.randn(2, 3, 32, 32)

    def scale_stage_3(i, feat):
        return feat * 2. if i == 3 else feat

    with torch.no_grad():
        ref = mit(x)
        after = mit.forward_stagewise(x, scale_stage_3)
        before = mit.forward_stagewise(x, scale_stage_3, 'before_blocks')
    assert all(torch.equal(a, b) for a, b in zip(after[:3], ref[:3]))
    assert torch.equal(after[3], ref[3] * 2.)
    # before the layers and the norm: the stage processes the scaled map
    assert all(torch.equal(a, b) for a, b in zip(before[:3], ref[:3]))
    assert not torch.allclose(before[3], ref[3], atol=1e-3)
    assert not torch.allclose(before[3], ref[3] * 2., atol=1e-3)
    with pytest.raises(ValueError, match='position must be one of'):
        mit.forward_stagewise(x, scale_stage_3, 'inside')
