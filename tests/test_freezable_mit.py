"""FreezableMixVisionTransformer: MiT with OpenMMLab's ``frozen_stages``."""
import pytest
import torch

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
