"""AutocastOptimWrapper: bf16 autocast training without loss scaling, on
CPU too, and ``tools/train.py --amp`` on a machine without a GPU."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from ddavs_mm.engine import AutocastOptimWrapper


def _wrapper(model, **kw):
    with DefaultScope.overwrite_default_scope('ddavs_mm'):
        return build_optim_wrapper(
            model, dict(type='AutocastOptimWrapper',
                        optimizer=dict(type='SGD', lr=0.5), **kw))


def test_forward_runs_in_bf16_and_the_weights_stay_fp32():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    wrapper = _wrapper(model)
    assert isinstance(wrapper, AutocastOptimWrapper)
    x = torch.randn(5, 4)
    with wrapper.optim_context(model):
        y = model(x)
    assert y.dtype == torch.bfloat16
    assert model(x).dtype == torch.float32  # outside the context: fp32
    before = model.weight.detach().clone()
    wrapper.update_params(y.float().pow(2).mean())
    assert model.weight.dtype == torch.float32
    # SGD step with the bf16 gradient: w - lr * dL/dw, checked by hand
    y32 = x.to(torch.bfloat16) @ before.to(torch.bfloat16).t() + \
        model.bias.detach().to(torch.bfloat16)
    grad = (2 * y32.float() / y32.numel()).t() @ x
    assert torch.allclose(model.weight, before - 0.5 * grad, atol=2e-2)
    assert not torch.equal(model.weight, before)


def test_dtype_is_checked():
    with pytest.raises(ValueError, match='dtype'):
        _wrapper(nn.Linear(2, 2), dtype='float64')
    w = _wrapper(nn.Linear(2, 2), dtype=torch.float16)
    assert w.cast_dtype is torch.float16


def _train_tool():
    import importlib.util
    import os.path as osp
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        'train_tool', osp.join(root, 'tools', 'train.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, osp.join(root, 'tests', 'data',
                         'ddavs_tiny_synthetic_ms3_nobank.py')


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_train_amp_flag_on_cpu_uses_bf16_autocast(monkeypatch):
    from ddavs_mm.registry import MODELS
    tool, cfg_path = _train_tool()
    monkeypatch.setattr('sys.argv', ['train.py', cfg_path, '--amp'])
    cfg = tool.build_cfg(tool.parse_args())
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    model = MODELS.build(cfg.model)
    with DefaultScope.overwrite_default_scope('ddavs_mm'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert wrapper.cast_dtype is torch.bfloat16
    # another wrapper type is refused with its name
    monkeypatch.setattr('sys.argv', [
        'train.py', cfg_path, '--amp', '--cfg-options',
        'optim_wrapper.type=ZeroRedundancyOptimizer'])
    with pytest.raises(ValueError, match='ZeroRedundancyOptimizer'):
        tool.build_cfg(tool.parse_args())
