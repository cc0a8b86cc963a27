"""Safe reading and strict loading of checkpoints: read_checkpoint,
load_state_dict_checked, the ``Pretrained`` initialiser, init_model, the
weights-only MMEngine loaders and StrictLoadRunner."""
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn

import ddavs_mm  # noqa: F401  (weights-only loaders, safe globals)
from ddavs_mm.utils.checkpoint_loading import (CheckpointError,
                                               load_state_dict_checked,
                                               read_checkpoint)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = osp.join(ROOT, 'tests', 'data', 'ddavs_tiny_synthetic_ms3_nobank.py')


class _Payload:
    """Unpickling it would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def malicious_checkpoint(path, marker) -> str:
    torch.save({'state_dict': {'w': torch.ones(2)},
                'meta': _Payload(str(marker))}, str(path))
    return str(path)


class Net(nn.Module):

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(width, 2)
        self.bn = nn.BatchNorm1d(2)


def test_good_checkpoint_reads(tmp_path):
    path = str(tmp_path / 'ok.pth')
    torch.save({'state_dict': Net().state_dict(), 'meta': {'epoch': 3}},
               path)
    ckpt = read_checkpoint(path)
    assert ckpt['meta']['epoch'] == 3
    assert ckpt['state_dict']['fc.weight'].shape == (2, 3)


@pytest.mark.parametrize('kind,problem', [
    ('missing', 'no such checkpoint file (check the path)'),
    ('directory', 'is a directory'),
    ('empty', 'is empty (0 bytes)'),
    ('truncated', 'is not a readable PyTorch checkpoint (PytorchStreamReader'
     ' failed reading zip archive'),
    ('random', 'is not a readable PyTorch checkpoint (invalid pickle data)'),
    ('text', 'is not a readable PyTorch checkpoint'),
    ('tensor', 'holds a Tensor, not a checkpoint dict'),
])
def test_unreadable_checkpoints_name_the_file(tmp_path, kind, problem):
    path = tmp_path / f'{kind}.pth'
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': Net().state_dict()}, str(good))
    if kind == 'directory':
        path.mkdir()
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        data = good.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'random':
        path.write_bytes(bytes(range(256)) * 20)
    elif kind == 'text':
        path.write_text('not a checkpoint\n')
    elif kind == 'tensor':
        torch.save(torch.ones(3), str(path))
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(str(path))
    message = str(err.value)
    assert message.startswith(f'{path}: '), message
    assert problem in message, message
    assert '\n' not in message


def test_malicious_pickle_is_refused_even_when_torch_is_told_otherwise(
        tmp_path, monkeypatch):
    """``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` switches torch.load's default
    to full unpickling; an explicit ``weights_only=True`` still wins, on
    every path DDAVS-MM reads a checkpoint through."""
    from mmengine.runner.checkpoint import _load_checkpoint

    from ddavs_mm.utils.checkpoint_safety import load_from_http
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'code_ran'
    path = malicious_checkpoint(tmp_path / 'evil.pth', marker)
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert 'holds a pickled posix.system that weights-only loading ' \
        'refuses' in str(err.value)
    assert str(err.value).startswith(f'{path}: ')
    import pickle
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path)  # MMEngine's loader, as Pretrained used it
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'hub'))
    with pytest.raises(pickle.UnpicklingError):
        load_from_http(f'file://{path}')  # the http(s):// loader
    assert not marker.exists()
    # the same file, read with torch's default under that variable, runs
    # the payload: the danger is real
    torch.load(path)
    assert marker.exists()


def test_strict_load_names_missing_unexpected_and_misshaped_keys(tmp_path):
    path = str(tmp_path / 'other.pth')
    other = Net(width=4).state_dict()
    other['extra.weight'] = torch.zeros(1)
    del other['bn.bias']
    torch.save({'state_dict': other}, path)
    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_state_dict_checked(net, read_checkpoint(path), path)
    assert str(err.value) == (
        f'{path}: does not fit the model: 1 missing (bn.bias), '
        f'1 unexpected (extra.weight), 1 mis-shaped (fc.weight: [2, 4] in '
        f'file, [2, 3] in model) (use the checkpoint of this config, or '
        f'pass strict=False to load only the keys that fit)')
    for k, v in net.state_dict().items():  # nothing was loaded
        assert torch.equal(v, before[k]), k


def test_non_strict_load_takes_what_fits_and_reports_the_rest(tmp_path):
    path = str(tmp_path / 'other.pth')
    other = Net(width=4).state_dict()
    other['bn.weight'] = torch.full((2, ), 7.0)
    torch.save({'state_dict': other}, path)
    net = Net()
    fc_before = net.fc.weight.clone()
    report = load_state_dict_checked(net, read_checkpoint(path), path,
                                     strict=False)
    assert report.mismatched == [('fc.weight', (2, 4), (2, 3))]
    assert not report.missing and not report.unexpected
    assert torch.equal(net.bn.weight, torch.full((2, ), 7.0))
    assert torch.equal(net.fc.weight, fc_before)
    assert torch.equal(net.fc.bias, other['fc.bias'])
    table = report.table().splitlines()
    assert table[0].split('|')[1:5] == [
        ' key       ', ' problem        ', ' file shape ', ' model shape ']
    assert table[2].split('|')[1:5] == [
        ' fc.weight ', ' shape mismatch ', ' [2, 4]     ', ' [2, 3]      ']


def test_prefix_module_and_declared_partial_loads(tmp_path):
    path = str(tmp_path / 'whole.pth')
    src = Net()
    state = {f'module.backbone.{k}': v for k, v in src.state_dict().items()}
    state['module.head.w'] = torch.ones(1)
    del state['module.backbone.bn.running_var']
    torch.save({'state_dict': state}, path)
    ckpt = read_checkpoint(path)
    with pytest.raises(CheckpointError, match='1 missing'):
        load_state_dict_checked(Net(), ckpt, path, prefix='backbone.')
    net = Net()
    report = load_state_dict_checked(net, ckpt, path, prefix='backbone',
                                     ignore_missing=[r'bn\.running_var'])
    assert report.ignored == ['bn.running_var'] and report.complete
    assert torch.equal(net.fc.weight, src.fc.weight)
    with pytest.raises(CheckpointError, match="no key starting with 'neck.'"):
        load_state_dict_checked(Net(), ckpt, path, prefix='neck.')


def _pretrained_model(init_cfg):
    """A model whose ``enc`` part has ``init_cfg`` (``ddavs_mm`` scope)."""
    from mmengine.model import BaseModule

    from ddavs_mm.utils import register_all_modules
    register_all_modules()

    class Encoder(BaseModule):

        def __init__(self, init_cfg=None):
            super().__init__(init_cfg=init_cfg)
            self.fc = nn.Linear(3, 2)
            self.cls = nn.Linear(2, 5)

    class Holder(BaseModule):

        def __init__(self):
            super().__init__()
            self.enc = Encoder(init_cfg=init_cfg)

    return Holder()


def test_pretrained_init_cfg_is_strict_with_declared_exceptions(tmp_path):
    path = str(tmp_path / 'pre.pth')
    fc = nn.Linear(3, 2)
    torch.save({'state_dict': {'enc.fc.weight': fc.weight.data,
                               'enc.fc.bias': fc.bias.data,
                               'head.cls.weight': torch.ones(9, 2)}}, path)
    model = _pretrained_model(dict(type='Pretrained', checkpoint=path,
                                   prefix='enc.'))
    with pytest.raises(CheckpointError) as err:
        model.init_weights()
    assert str(err.value).startswith(
        f'{path}: does not fit the model: 2 missing (cls.weight, cls.bias)')
    assert 'init_cfg of Encoder' in str(err.value)
    model = _pretrained_model(dict(type='Pretrained', checkpoint=path,
                                   prefix='enc.', ignore_missing=['cls.']))
    model.init_weights()
    assert torch.equal(model.enc.fc.weight, fc.weight)
    # a whole-model load: the classifier file keys are unexpected
    model = _pretrained_model(dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointError, match='3 unexpected'):
        model.init_weights()


def test_pretrained_init_cfg_refuses_pickled_code(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'code_ran'
    path = malicious_checkpoint(tmp_path / 'evil.pth', marker)
    model = _pretrained_model(dict(type='Pretrained', checkpoint=path))
    with pytest.raises(CheckpointError, match='weights-only loading'):
        model.init_weights()
    assert not marker.exists()


def _tiny_model_checkpoint(path, **model_changes):
    from mmengine.config import Config

    from ddavs_mm.registry import MODELS
    from ddavs_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(CFG)
    cfg.merge_from_dict(model_changes)
    torch.manual_seed(1)
    state = MODELS.build(cfg.model).state_dict()
    torch.save({'state_dict': state}, str(path))
    return state


def test_init_model_refuses_checkpoints_of_other_models(tmp_path):
    """The three cases of the issue: other widths, GN for BN, and every
    key under an extra prefix (0 keys match)."""
    from ddavs_mm.apis import init_model
    own = _tiny_model_checkpoint(tmp_path / 'own.pth')
    model = init_model(CFG, str(tmp_path / 'own.pth'))
    for key, value in model.state_dict().items():
        assert torch.equal(value, own[key]), key
    _tiny_model_checkpoint(tmp_path / 'wide.pth', **{
        'model.decode_head.mask_decoder.channels': 96})
    with pytest.raises(CheckpointError, match=r'mis-shaped \(decode_head'):
        init_model(CFG, str(tmp_path / 'wide.pth'))
    _tiny_model_checkpoint(tmp_path / 'gn.pth', **{
        'model.decode_head.mask_decoder.norm_cfg':
        dict(type='GN', num_groups=8)})
    with pytest.raises(CheckpointError, match='missing .*unexpected'):
        init_model(CFG, str(tmp_path / 'gn.pth'))
    torch.save({'state_dict': {f'model.{k}': v for k, v in own.items()}},
               str(tmp_path / 'prefixed.pth'))
    with pytest.raises(CheckpointError) as err:
        init_model(CFG, str(tmp_path / 'prefixed.pth'))
    n = len(own)
    assert f'{n} missing' in str(err.value)
    assert f'{n} unexpected (model.' in str(err.value)
    # explicit opt-out: the matching part loads
    model = init_model(CFG, str(tmp_path / 'gn.pth'), strict=False)
    assert model.training is False
