"""MiT weights in the three layouts users have (NVIDIA's original file, a
transformers directory, mmseg keys) load into the project's backbone and give
the feature maps of transformers' SegformerModel with the same weights."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from transformers import SegformerConfig, SegformerModel

import ddavs_mm  # noqa: F401  (registers modules)
from ddavs_mm.models.backbones import convert_mit_state_dict, detect_mit_layout
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# mmseg's MiT widths are embed_dims * num_heads: 16 * (1, 2, 5, 8)
ARCH = dict(embed_dims=16, num_layers=[1, 1, 2, 1], num_heads=[1, 2, 5, 8],
            sr_ratios=[8, 4, 2, 1])


@pytest.fixture(scope='module')
def segformer(tmp_path_factory):
    """A random transformers SegformerModel saved with save_pretrained."""
    torch.manual_seed(0)
    cfg = SegformerConfig(depths=[1, 1, 2, 1], hidden_sizes=[16, 32, 80, 128],
                          num_attention_heads=[1, 2, 5, 8],
                          sr_ratios=[8, 4, 2, 1])
    model = SegformerModel(cfg).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 0.6 - 0.3)
    path = str(tmp_path_factory.mktemp('hf') / 'mit')
    model.save_pretrained(path)
    # transformers uses LayerNorm eps 1e-5, mmseg's MiT 1e-6: give the
    # reference mmseg's eps so that only the weights are compared
    for m in model.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.eps = 1e-6
    x = torch.randn(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        ref = model(x, output_hidden_states=True).hidden_states
    return dict(path=path, x=x, ref=ref)


def _backbone(checkpoint=None, **kw):
    init_cfg = None if checkpoint is None else dict(
        type='Pretrained', checkpoint=str(checkpoint), **kw)
    return MODELS.build(dict(type='FreezableMixVisionTransformer', **ARCH,
                             init_cfg=init_cfg)).eval()


def _assert_same_features(backbone, segformer):
    with torch.no_grad():
        outs = backbone(segformer['x'])
    assert len(outs) == len(segformer['ref']) == 4
    for ours, ref in zip(outs, segformer['ref']):
        assert ours.shape == ref.shape
        assert torch.allclose(ours, ref, atol=1e-5, rtol=0), \
            (ours - ref).abs().max()


# Written independently of the package's mapping: transformers file names
# -> NVIDIA's original names.
HF_TO_NVIDIA_BLOCK = {
    'layer_norm_1': 'norm1', 'layer_norm_2': 'norm2',
    'attention.self.query': 'attn.q', 'attention.output.dense': 'attn.proj',
    'attention.self.sr': 'attn.sr', 'attention.self.layer_norm': 'attn.norm',
    'mlp.dense1': 'mlp.fc1', 'mlp.dense2': 'mlp.fc2',
    'mlp.dwconv.dwconv': 'mlp.dwconv.dwconv',
}


def hf_file_to_nvidia(sd):
    out, kv = {}, {}
    for key, value in sd.items():
        parts = key.split('.')
        assert parts[0] == 'encoder', key
        if parts[1] == 'patch_embeddings':
            sub = 'proj' if parts[3] == 'proj' else 'norm'
            out[f'patch_embed{int(parts[2]) + 1}.{sub}.{parts[-1]}'] = value
        elif parts[1] == 'layer_norm':
            out[f'norm{int(parts[2]) + 1}.{parts[-1]}'] = value
        else:
            prefix = f'block{int(parts[2]) + 1}.{parts[3]}.'
            name = '.'.join(parts[4:-1])
            if name in ('attention.self.key', 'attention.self.value'):
                kv.setdefault(prefix + parts[-1], {})[parts[-2]] = value
            else:
                out[prefix + HF_TO_NVIDIA_BLOCK[name] + '.' + parts[-1]] = \
                    value
    for key, pair in kv.items():
        prefix, kind = key.rsplit('.', 1)
        out[f'{prefix}.attn.kv.{kind}'] = torch.cat([pair['key'],
                                                     pair['value']])
    return out


@pytest.fixture(scope='module')
def nvidia_file(segformer, tmp_path_factory):
    sd = hf_file_to_nvidia(
        load_file(osp.join(segformer['path'], 'model.safetensors')))
    sd['head.weight'] = torch.randn(1000, 128)
    sd['head.bias'] = torch.randn(1000)
    path = tmp_path_factory.mktemp('nv') / 'mit_b0_like.pth'
    torch.save(sd, path)
    return path


def test_transformers_directory_from_config(segformer):
    backbone = _backbone(segformer['path'])
    backbone.init_weights()
    assert backbone.load_report['layout'] == 'transformers'
    assert backbone.load_report['loaded'] == len(backbone.state_dict())
    _assert_same_features(backbone, segformer)
    # the weight file alone (the names transformers writes, not those of
    # its modules) reads the same
    single = _backbone(osp.join(segformer['path'], 'model.safetensors'))
    single.init_weights()
    assert single.load_report['layout'] == 'transformers'
    _assert_same_features(single, segformer)


def test_nvidia_file_from_config(segformer, nvidia_file):
    state = torch.load(nvidia_file, weights_only=True)
    assert detect_mit_layout(state) == 'nvidia'
    backbone = _backbone(nvidia_file)
    backbone.init_weights()
    report = backbone.load_report
    assert report['layout'] == 'nvidia'
    assert report['dropped'] == {'head.weight': 'ImageNet classifier',
                                 'head.bias': 'ImageNet classifier'}
    _assert_same_features(backbone, segformer)


def test_nvidia_to_mmseg_hand_checked_keys(nvidia_file):
    nv = torch.load(nvidia_file, weights_only=True)
    mm, layout, _ = convert_mit_state_dict(nv)
    assert layout == 'nvidia'
    in_proj = mm['layers.2.1.1.attn.attn.in_proj_weight']
    assert in_proj.shape == (3 * 80, 80)
    assert torch.equal(in_proj[:80], nv['block3.1.attn.q.weight'])
    assert torch.equal(in_proj[80:], nv['block3.1.attn.kv.weight'])
    assert mm['layers.0.1.0.ffn.layers.0.weight'].shape == (64, 16, 1, 1)
    assert torch.equal(mm['layers.0.1.0.ffn.layers.4.weight'][..., 0, 0],
                       nv['block1.0.mlp.fc2.weight'])
    assert torch.equal(mm['layers.3.2.weight'], nv['norm4.weight'])
    assert torch.equal(mm['layers.1.0.projection.weight'],
                       nv['patch_embed2.proj.weight'])
    assert not any(k.startswith('head') for k in mm)


def test_converter_cli_writes_mmseg_keys(segformer, nvidia_file, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    outs = {}
    for name, src in (('hf', segformer['path']), ('nv', nvidia_file)):
        dst = tmp_path / f'{name}.pth'
        proc = subprocess.run(
            [sys.executable, 'tools/model_converters/mit2ddavs.py', str(src),
             str(dst)], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[name] = torch.load(dst, weights_only=True)
    assert 'nvidia layout' in proc.stdout and 'dropped head.weight' in \
        proc.stdout
    # mmseg's own MixVisionTransformer takes the file as it is
    mit = MODELS.build(dict(type='MixVisionTransformer', **ARCH)).eval()
    mit.load_state_dict(outs['hf'], strict=True)
    _assert_same_features(mit, segformer)
    assert outs['hf'].keys() == outs['nv'].keys()
    assert all(torch.equal(outs['hf'][k], outs['nv'][k]) for k in outs['hf'])
    # an mmseg-keyed file (also under a segmentor's 'backbone.' prefix)
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in outs['hf'].items()}},
               tmp_path / 'seg.pth')
    backbone = _backbone(tmp_path / 'seg.pth', prefix='backbone.')
    backbone.init_weights()
    assert backbone.load_report['layout'] == 'mmseg'
    _assert_same_features(backbone, segformer)
    with pytest.raises(ValueError, match="start with 'backbone.'"):
        _backbone(tmp_path / 'seg.pth').init_weights()


def test_wrong_architecture_and_bad_files(segformer, nvidia_file, tmp_path):
    # another number of heads (same widths) does not show in the shapes;
    # the directory's config.json tells
    other = dict(ARCH, embed_dims=8, num_heads=[2, 4, 10, 16])
    with pytest.raises(ValueError, match='num_heads'):
        MODELS.build(dict(type='FreezableMixVisionTransformer', **other,
                          init_cfg=dict(type='Pretrained',
                                        checkpoint=segformer['path'])
                          )).init_weights()
    cfg = json.load(open(osp.join(segformer['path'], 'config.json')))
    assert cfg['num_attention_heads'] == [1, 2, 5, 8]
    # a deeper backbone misses blocks: MMEngine's strict load names them
    deeper = dict(ARCH, num_layers=[1, 1, 3, 1])
    with pytest.raises(ValueError,
                       match=r'(?s)mit_b0_like.*missing.*layers\.2\.1\.2'):
        MODELS.build(dict(type='FreezableMixVisionTransformer', **deeper,
                          init_cfg=dict(type='Pretrained',
                                        checkpoint=str(nvidia_file))
                          )).init_weights()
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _backbone(tmp_path / 'nope.pth').init_weights()
    torch.save({'conv.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='none of the MiT layouts'):
        _backbone(tmp_path / 'other.pth').init_weights()
    nv = torch.load(nvidia_file, weights_only=True)
    nv['block1.0.attn.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='block1.0.attn.extra.weight'):
        convert_mit_state_dict(nv)


def test_without_init_cfg_keeps_mmseg_initialisation():
    torch.manual_seed(0)
    ours = _backbone()
    ours.init_weights()
    torch.manual_seed(0)
    mit = MODELS.build(dict(type='MixVisionTransformer', **ARCH))
    mit.init_weights()
    assert ours.load_report is None
    for k, v in mit.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k]), k
