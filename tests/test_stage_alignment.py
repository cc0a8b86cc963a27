"""Where the alignment blocks act: the backbone's stage-wise forward
(``StageWiseBackbone``), ``StageAlignment`` owned by the segmentor, and the
decode head that only decodes.

The segmentor's output is compared, in every mode of the alignment, with
the computation of the layout before the split written out (the MiT stage
loop with the blocks inside, the blocks and the baseline fusion at the
decoder input, the query readout); checkpoints of that layout load."""
import glob
import itertools
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import BaseModule, ExponentialMovingAverage
from mmengine.runner import load_checkpoint

import ddavs_mm  # noqa: F401  (registers modules)
from ddavs_mm.models.backbones import StageWiseBackbone
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CHANNELS = [8, 16, 32, 64]


def model_cfg(backbone=None, readout=False, **alignment):
    align = dict(type='StageAlignment', query_channels=16,
                 inject_stages=(2, 3), block_cfg=dict(num_heads=2))
    align.update(alignment)
    return dict(
        type='DDAVS',
        audio_encoder=dict(
            type='HTSATAudioEncoder', spec_size=64, num_mel_bins=16,
            patch_embeds_hidden_size=8, depths=(1, 1),
            num_attention_heads=(2, 2), window_size=4, hidden_size=16,
            drop_path_rate=0.0,
            frontend=dict(sample_rate=16000, n_fft=512, hop_length=160,
                          n_mels=16, f_min=50.0, f_max=8000.0)),
        backbone=backbone or dict(
            type='FreezableMixVisionTransformer', embed_dims=8,
            num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8]),
        alignment=align,
        decode_head=dict(
            type='DelayedAVAMDecoder', in_channels=CHANNELS, query_channels=16,
            query_readout=readout,
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


def nlc_to_nchw(x, hw):
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *hw)


def layout_before_split(model, frames, queries):
    """The logits as the segmentor and ``DelayedAVAMDecoder`` computed them
    before the alignment left the decode head, written out."""
    align, head = model.alignment, model.decode_head

    def block(i, feat):
        blk = align.blocks[str(i)] if str(i) in align.blocks else None
        return feat if blk is None else blk.forward_map(feat, queries)

    if align.fusion_position == 'encoder' and align.inject_stages:
        before = align.encoder_position == 'before_blocks'
        x, feats = frames, []
        for i, (embed, layers, norm) in enumerate(model.backbone.layers):
            x, hw = embed(x)
            if before:
                x = block(i, nlc_to_nchw(x, hw)).flatten(2).transpose(1, 2)
            for layer in layers:
                x = layer(x, hw)
            x = nlc_to_nchw(norm(x), hw)
            if not before:
                x = block(i, x)
            feats.append(x)
    else:
        feats = list(model.backbone(frames))
    if align.baseline_proj is not None:
        bias = align.baseline_proj(queries.mean(dim=1))
        feats[-1] = feats[-1] + bias[:, :, None, None]
    elif align.fusion_position == 'head':
        feats = [block(i, f) for i, f in enumerate(feats)]
    md = head.mask_decoder
    if head.readout_proj is None:
        return md(feats)
    fused = md.fuse(feats)
    n, c = fused.shape[:2]
    keys = head.readout_proj(queries).reshape(n, queries.shape[1], 1, c)
    readout = torch.einsum('nqkc,nchw->nqkhw', keys, fused).amax(1)
    return md.classify(fused) + readout / c**0.5


MODES = [
    dict(),  # the paper: encoder, after the stage
    dict(encoder_position='before_blocks'),
    dict(inject_stages=(0, 1, 2, 3)),
    dict(inject_stages=(1, ), encoder_position='before_blocks'),
    dict(fusion_position='head'),
    dict(fusion_position='head', norm_position='post'),
    dict(with_alignment=False),  # bias baseline
    dict(with_alignment=False, fusion_position='head'),
    dict(with_alignment=False, baseline_fusion='blocks'),
    dict(with_alignment=False, baseline_fusion='blocks',
         encoder_position='before_blocks'),
    dict(with_alignment=False, baseline_fusion='blocks',
         fusion_position='head'),
]


@pytest.mark.parametrize('readout', [False, True])
@pytest.mark.parametrize('mode', MODES, ids=lambda m: str(m) or 'paper')
def test_same_logits_as_the_layout_before_the_split(mode, readout):
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(readout=readout, **mode)).eval()
    randomise_(model.alignment, seed=1)
    if readout:
        randomise_(model.decode_head.readout_proj, seed=2)
    frames, audio = inputs()
    with torch.no_grad():
        queries = model.extract_queries(audio)
        ours = model._decode(frames, queries)
        ref = layout_before_split(model, frames, queries)
        other = model._decode(frames, queries.flip(0))
    assert ours.shape == (2, 1, 8, 8)
    assert torch.equal(ours, ref)
    # the randomised fusion makes the logits depend on the audio
    assert not torch.allclose(ours, other, atol=1e-4)


def _old_layout(state):
    """A state dict as the layout before the split named it."""
    out = {}
    for key, value in state.items():
        for new, old in (('alignment.blocks.', 'decode_head.blocks.'),
                         ('alignment.baseline_proj.',
                          'decode_head.baseline_proj.')):
            if key.startswith(new):
                key = old + key[len(new):]
        out[key] = value
    return out


@pytest.mark.parametrize('mode', [dict(), dict(with_alignment=False)])
def test_checkpoints_of_the_layout_before_the_split_load(mode, tmp_path):
    torch.manual_seed(0)
    trained = MODELS.build(model_cfg(readout=True, **mode)).eval()
    randomise_(trained, seed=3)
    state = trained.state_dict()
    old = _old_layout(state)
    moved = {k for k in old if k not in state}
    assert moved and all(k.startswith(('decode_head.blocks.',
                                       'decode_head.baseline_proj.'))
                         for k in moved)
    frames, audio = inputs()

    def same_as_trained(model, outputs=True):
        assert all(torch.equal(v, state[k])
                   for k, v in model.state_dict().items())
        if not outputs:
            return
        with torch.no_grad():
            assert torch.equal(model(dict(frames=frames[:, None],
                                          audio=audio[:, None])),
                               trained(dict(frames=frames[:, None],
                                            audio=audio[:, None])))

    # torch's strict load_state_dict
    fresh = MODELS.build(model_cfg(readout=True, **mode)).eval()
    fresh.load_state_dict(old, strict=True)
    same_as_trained(fresh)
    # an mmengine checkpoint file, as tools/test.py loads it
    path = str(tmp_path / 'old.pth')
    torch.save(dict(state_dict=old), path)
    fresh = MODELS.build(model_cfg(readout=True, **mode)).eval()
    load_checkpoint(fresh, path, strict=True)
    same_as_trained(fresh)
    # under a prefix: the EMA model of EMAHook, resumed
    ema = ExponentialMovingAverage(
        MODELS.build(model_cfg(readout=True, **mode)))
    ema_state = {'module.' + k: v for k, v in old.items()}
    ema_state['steps'] = torch.tensor(5)
    ema.load_state_dict(ema_state, strict=True)
    # (the EMA copy's parameters need no gradient, which puts torch's
    # MultiheadAttention on its fast path: equal outputs only to rounding)
    same_as_trained(ema.module, outputs=False)
    # the current layout loads as it is; both layouts at once are refused
    fresh.load_state_dict(state, strict=True)
    with pytest.raises(ValueError, match='holds both'):
        fresh.load_state_dict({**state, **old})


# --------------------------------------------------------------- backbone
MIT = dict(type='FreezableMixVisionTransformer', embed_dims=8,
           num_layers=[1, 1, 1, 1], num_heads=[1, 2, 4, 8])


@MODELS.register_module(name='_TestStageWiseCNN', force=True)
class StageWiseCNN(BaseModule):
    """A 4-stage CNN that implements the protocol at 'after_stage' only."""

    hook_positions = ('after_stage', )

    def __init__(self, channels=CHANNELS):
        super().__init__()
        widths = [3] + list(channels)
        self.stages = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 3, stride=4 if i == 0 else 2,
                      padding=1) for i in range(4))

    def forward_stagewise(self, x, hook, position='after_stage'):
        if position not in self.hook_positions:
            raise ValueError(position)
        outs = []
        for i, stage in enumerate(self.stages):
            x = hook(i, torch.relu(stage(x)))
            outs.append(x)
        return outs

    def forward(self, x):
        return self.forward_stagewise(x, lambda i, feat: feat)


def test_another_backbone_implementing_the_protocol_runs_in_the_encoder():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(
        backbone=dict(type='_TestStageWiseCNN'))).eval()
    randomise_(model.alignment, seed=1)
    frames, audio = inputs()
    with torch.no_grad():
        queries = model.extract_queries(audio)
        feats = model.extract_feats(frames, queries)
        # by hand: the aligned stage 2 is the input of stage 3
        x, ref = frames, []
        for i, stage in enumerate(model.backbone.stages):
            x = torch.relu(stage(x))
            if i in (2, 3):
                x = model.alignment.blocks[str(i)].forward_map(x, queries)
            ref.append(x)
    assert all(torch.equal(a, b) for a, b in zip(feats, ref))
    # it has no 'before_blocks': a config-time error naming both sides
    with pytest.raises(ValueError, match='alignment.encoder_position='
                       '"before_blocks" but StageWiseCNN runs hooks only at '
                       r"\('after_stage',\)"):
        MODELS.build(model_cfg(backbone=dict(type='_TestStageWiseCNN'),
                               encoder_position='before_blocks'))


def test_a_backbone_without_stage_wise_forward_needs_head_placement():
    plain = dict(MIT, type='MixVisionTransformer')
    assert not isinstance(MODELS.build(plain), StageWiseBackbone)
    with pytest.raises(ValueError, match='MixVisionTransformer cannot be '
                       'run stage by stage.*FreezableMixVisionTransformer'):
        MODELS.build(model_cfg(backbone=plain))
    # at the decode head's input (or without blocks) any backbone works
    for mode in (dict(fusion_position='head'), dict(with_alignment=False)):
        model = MODELS.build(model_cfg(backbone=plain, **mode)).eval()
        frames, audio = inputs()
        with torch.no_grad():
            queries = model.extract_queries(audio)
            assert torch.equal(model._decode(frames, queries),
                               layout_before_split(model, frames, queries))


# ---------------------------------------------------------------- configs
CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', '*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'ablations', '*.py')) +
    glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')))


@MODELS.register_module(name='_TestAudioTokens', force=True)
class AudioTokens(BaseModule):
    """Stands in for the audio encoder: ``[N, S] -> [N, 4, out_channels]``
    (a paper-size HTSAT takes long to build)."""

    def __init__(self, out_channels):
        super().__init__()
        self.out_channels = out_channels
        self.proj = nn.Linear(64, out_channels)

    def forward(self, wave):
        return self.proj(wave[:, :256].reshape(-1, 4, 64))


@pytest.mark.parametrize('path', CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_every_config_builds_and_runs_with_its_alignment(path):
    """Each config builds and runs, with the alignment where the config
    puts it and the decode head only decoding. To keep it quick, the audio
    side is replaced by tokens of the queries' width (AQM and COM are
    tested elsewhere) and MiT stages keep one transformer layer each."""
    cfg = Config.fromfile(path)
    if 'custom_imports' in cfg:
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model
    assert model_cfg.audio_encoder.type == 'HTSATAudioEncoder'
    query_dims = model_cfg.audio_encoder.get('hidden_size', 768)
    if model_cfg.get('audio_query') is not None:
        query_dims = model_cfg.audio_query.embed_dims
    model_cfg.audio_encoder = dict(type='_TestAudioTokens',
                                   out_channels=query_dims)
    model_cfg.audio_query = model_cfg.contrastive_head = None
    if 'MixVisionTransformer' in model_cfg.backbone.type:
        model_cfg.backbone.num_layers = [1] * 4
    model_cfg.backbone.init_cfg = None
    model_cfg.decode_head.mask_decoder.init_cfg = None
    model = MODELS.build(model_cfg).eval()
    align = model.alignment
    assert type(align).__name__ == 'StageAlignment'
    assert type(model.decode_head).__name__ == 'DelayedAVAMDecoder'
    assert align.fusion_position == cfg.model.alignment.fusion_position
    assert align.in_channels == list(cfg.model.decode_head.in_channels)
    assert not any(k.startswith(('decode_head.blocks',
                                 'decode_head.baseline'))
                   for k in model.state_dict())
    if align.acts_in_encoder:
        assert isinstance(model.backbone, StageWiseBackbone)
        assert align.encoder_position in model.backbone.hook_positions
    inputs = dict(frames=torch.randn(1, 1, 3, 32, 32),
                  audio=torch.randn(1, 1, 256))
    with torch.no_grad():
        logits = model(inputs, mode='tensor')
    assert logits.shape == (1, model.num_classes, 8, 8)
    assert torch.isfinite(logits).all()


def test_stage_alignment_switch_grid_builds_and_rejects():
    """Every combination of the switches either builds or is refused with
    an error naming the switch."""
    grid = itertools.product(('encoder', 'head'),
                             ('after_stage', 'before_blocks'),
                             (True, False), ('bias', 'blocks'))
    for fusion, where, aligned, baseline in grid:
        kw = dict(fusion_position=fusion, encoder_position=where,
                  with_alignment=aligned, baseline_fusion=baseline)
        if fusion == 'head' and where == 'before_blocks':
            with pytest.raises(ValueError, match='fusion_position="encoder"'):
                MODELS.build(model_cfg(**kw))
            continue
        model = MODELS.build(model_cfg(**kw))
        blocks = aligned or baseline == 'blocks'
        assert model.alignment.acts_in_encoder == (blocks and
                                                   fusion == 'encoder')
        assert (model.alignment.baseline_proj is None) == blocks
