"""Prototype bank builder: K-means selection, data sources, file round trip."""
import os.path as osp

import numpy as np
import pytest
import soundfile as sf
import torch

import ddavs_mm  # noqa: F401
from ddavs_mm.apis.prototype_bank_builder import (build_audio_encoder,
                                                  build_prototype_bank,
                                                  cluster_bank,
                                                  collect_single_source_items,
                                                  embed_items,
                                                  select_prototypes)
from ddavs_mm.datasets.synthetic import generate_synthetic_avs, load_info
from ddavs_mm.models.audio_query import PrototypeBank

# the narrow 2-stage HTSAT of configs/_base_/models/ddavs_tiny.py (D = 64)
TINY_ENCODER = dict(
    type='HTSATAudioEncoder',
    spec_size=64,
    num_mel_bins=16,
    patch_embeds_hidden_size=32,
    depths=(1, 1),
    num_attention_heads=(2, 4),
    window_size=4,
    hidden_size=64,
    drop_path_rate=0.0,
    frontend=dict(sample_rate=16000, n_fft=512, hop_length=160, n_mels=16,
                  f_min=50.0, f_max=8000.0),
    frozen=True)
D = 64
FRAMES = 5  # AVSS v1s: 5 real frames
S4_FRAMES = 5  # AVSBenchS4Dataset reads 5 seconds
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def run_cli(argv):
    """Run tools/build_prototype_bank.py's main() in this process."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'build_prototype_bank_cli',
        osp.join(REPO, 'tools', 'build_prototype_bank.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(argv)


@pytest.fixture(scope='module')
def syn_s4(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('syn_s4'))
    generate_synthetic_avs(root, 's4', seed=0, num_train=8, num_val=0,
                           num_test=0, size=32, frames=S4_FRAMES,
                           sample_rate=8000)
    return root


@pytest.fixture(scope='module')
def syn_avss(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('syn_avss'))
    generate_synthetic_avs(root, 'avss', seed=1, num_train=6, num_val=0,
                           num_test=0, size=32, frames=FRAMES,
                           sample_rate=8000)
    return root


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'tiny_encoder.py'
    path.write_text(f'model = dict(audio_encoder={TINY_ENCODER!r})\n')
    return str(path)


# ---------------------------------------------------------------- K-means
def test_select_prototypes_two_clusters_picks_nearest_points():
    a = np.array([[0.0, 0.0], [0.4, 0.1], [-1.0, 0.2], [0.3, 1.2],
                  [0.2, -0.9]])
    b = np.array([[10.0, 10.0], [10.5, 9.8], [9.0, 10.1], [10.2, 11.0],
                  [9.9, 9.1], [10.8, 10.6]])
    x = np.concatenate([a, b])  # rows 0-4: cluster A, rows 5-10: B (larger)
    sel, info = select_prototypes(x, num_clusters=2, per_cluster=1, seed=0)
    near_a = int(np.argmin(((a - a.mean(0))**2).sum(1)))
    near_b = 5 + int(np.argmin(((b - b.mean(0))**2).sum(1)))
    # largest cluster first, each prototype is the point nearest its mean
    assert sel.tolist() == [near_b, near_a]
    assert info['cluster_sizes'] == [6, 5] and info['k'] == 2

    sel2, info2 = select_prototypes(x, num_clusters=2, per_cluster=2, seed=0)
    db = ((b - b.mean(0))**2).sum(1)
    da = ((a - a.mean(0))**2).sum(1)
    assert sel2.tolist() == (5 + np.argsort(db)[:2]).tolist() + \
        np.argsort(da)[:2].tolist()
    assert info2['per_cluster'] == 2


def test_select_prototypes_small_class_rule():
    x = np.arange(6, dtype=np.float64).reshape(3, 2)
    with pytest.warns(UserWarning, match='ragged'):
        sel, info = select_prototypes(x, num_clusters=5, per_cluster=1)
    assert info['k'] == 3 and sorted(sel.tolist()) == [0, 1, 2]
    with pytest.warns(UserWarning):
        sel, info = select_prototypes(x, num_clusters=5, per_cluster=2)
    assert info['k'] == 1 and info['per_cluster'] == 2 and len(set(sel)) == 2
    with pytest.raises(ValueError, match='strict'):
        select_prototypes(x, num_clusters=5, strict=True)
    with pytest.raises(ValueError, match='non-empty'):
        select_prototypes(np.zeros((0, 2)), num_clusters=1)


def test_cluster_bank_ragged_class_ids():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(13, 4)).astype(np.float32)
    ids = np.array([2] * 10 + [0] * 3)
    with pytest.warns(UserWarning):
        out = cluster_bank(feats, ids, ['a', 'b', 'c'], num_clusters=4)
    # classes in id order; class 0 has 3 features -> K = 3
    assert out['class_ids'].tolist() == [0, 0, 0, 2, 2, 2, 2]
    assert np.array_equal(out['prototypes'], feats[out['indices']])
    assert out['per_class']['a']['k'] == 3 and out['per_class']['c']['k'] == 4


# ----------------------------------------------------------- data sources
def test_synthetic_source_items(syn_s4):
    items, names, _ = collect_single_source_items('synthetic', syn_s4,
                                                  'train')
    info = load_info(syn_s4)
    singles = [e for e in info['single_source_index']
               if e['split'] == 'train']
    assert sum(len(it.seconds) for it in items) == len(singles)
    assert names == [c['name'] for c in info['classes']]
    assert all(osp.isfile(p) for it in items for p in it.audio_paths)


def test_synthetic_source_by_size_bin(syn_s4):
    """One label per sound: id = class * 3 + size bin, '{class}-{bin}'."""
    items, names, _ = collect_single_source_items('synthetic', syn_s4,
                                                  'train', by_size_bin=True)
    info = load_info(syn_s4)
    assert len(names) == 3 * len(info['classes'])
    assert names[0] == info['classes'][0]['name'] + '-large'
    assert names[5] == info['classes'][1]['name'] + '-small'
    # every single-source second keeps its own (class, size bin) label
    want = sorted((e['clip_id'], e['second'],
                   3 * e['class_id'] + e['size_bin'])
                  for e in info['single_source_index']
                  if e['split'] == 'train')
    got = sorted((it.clip_id, s, it.class_id)
                 for it in items for s in it.seconds)
    assert got == want
    with pytest.raises(ValueError, match='by_size_bin'):
        collect_single_source_items('synthetic', syn_s4, 'train', labels=1)


def test_s4_source_matches_synthetic_index(syn_s4):
    items, names, _ = collect_single_source_items('s4', syn_s4, 'train')
    assert names == sorted(names) and len(items) == 8
    assert all(it.seconds == list(range(5)) for it in items)  # S4: 5 s
    syn, syn_names, _ = collect_single_source_items('synthetic', syn_s4,
                                                    'train')
    by_clip = {it.clip_id: syn_names[it.class_id] for it in syn}
    for it in items:
        assert names[it.class_id] == by_clip[it.clip_id]


def test_avss_source_class_from_label_maps(syn_avss):
    items, names, notes = collect_single_source_items('avss', syn_avss,
                                                      'train')
    assert names[0] == 'background'
    info = load_info(syn_avss)
    v1s = {c['clip_id']: c for c in info['clips'] if c['subset'] == 'v1s'}
    assert len(items) == len(v1s) > 0
    for it in items:
        src = v1s[it.clip_id]['sources'][0]
        assert names[it.class_id] == src['class_name']
        assert it.num_seconds == FRAMES


def test_bad_inputs(syn_s4, tmp_path):
    with pytest.raises(ValueError, match='unknown source'):
        collect_single_source_items('ms3', syn_s4)
    with pytest.raises(FileNotFoundError):
        collect_single_source_items('synthetic', str(tmp_path / 'nope'))
    cfg = tmp_path / 'no_audio.py'
    cfg.write_text('model = dict(type="DDAVS")\n')
    with pytest.raises(KeyError, match='audio_encoder'):
        build_audio_encoder(str(cfg))
    # a missing audio file raises and names it
    items, _, _ = collect_single_source_items('synthetic', syn_s4, 'train')
    items = items[:1]
    items[0].audio_paths = [str(tmp_path / 'missing.wav')]
    with pytest.warns(UserWarning):
        enc, _ = build_audio_encoder(dict(TINY_ENCODER))
    with pytest.raises(FileNotFoundError, match='missing.wav'):
        embed_items(enc, items, progress=False)


def test_encoder_weights_from_model_checkpoint(tmp_path):
    with pytest.warns(UserWarning):
        ref, _ = build_audio_encoder(dict(TINY_ENCODER), seed=1)
        other, _ = build_audio_encoder(dict(TINY_ENCODER), seed=0)
    assert any(not torch.equal(a, b) for a, b in zip(
        ref.state_dict().values(), other.state_dict().values()))
    ckpt = str(tmp_path / 'ddavs.pth')
    torch.save(dict(state_dict={f'audio_encoder.{k}': v
                                for k, v in ref.state_dict().items()}), ckpt)
    enc, info = build_audio_encoder(dict(TINY_ENCODER), checkpoint=ckpt)
    assert info['checkpoint'] == ckpt and 'model checkpoint' in \
        info['weights']
    for k, v in ref.state_dict().items():
        assert torch.equal(enc.state_dict()[k], v), k
    with pytest.raises(ValueError, match='suffix'):
        build_prototype_bank(dict(TINY_ENCODER), 'synthetic', str(tmp_path),
                             out=str(tmp_path / 'bank.txt'))


def test_silent_segments_are_skipped_and_counted(syn_s4, tmp_path):
    items, _, _ = collect_single_source_items('synthetic', syn_s4, 'train')
    it = items[0]
    wav, sr = sf.read(it.audio_paths[0], dtype='float32')
    wav[:sr + sr // 10] = 0  # first second silent (margin: resampling)
    p = str(tmp_path / 'half_silent.wav')
    sf.write(p, wav, sr)
    it.audio_paths = [p]
    with pytest.warns(UserWarning):
        enc, _ = build_audio_encoder(dict(TINY_ENCODER))
    out = embed_items(enc, [it], progress=False)
    assert out['silent_segments'] == [f'{it.clip_id}@0']
    assert out['features'].shape == (len(it.seconds) - 1, D)


# -------------------------------------------------------------- end to end
def test_build_bank_end_to_end(syn_s4, tiny_config, tmp_path):
    out = str(tmp_path / 'bank.pt')
    with pytest.warns(UserWarning, match='pretrained'):
        res = build_prototype_bank(
            tiny_config, 'synthetic', syn_s4, out=out, num_clusters=2,
            seed=0, batch_size=5, progress=False)
    feats, fids = res['features'], res['feature_class_ids']
    n_single = sum(1 for e in load_info(syn_s4)['single_source_index']
                   if e['split'] == 'train')
    assert feats.shape == (n_single, D)
    present = sorted(set(fids.tolist()))
    c = len(present)
    protos = res['prototypes']
    # every present class has >= S4_FRAMES >= 2 features -> regular [C, 2, D]
    assert protos.shape == (c * 2, D)
    assert res['class_ids'].tolist() == np.repeat(present, 2).tolist()
    assert protos.reshape(c, 2, D).shape == (c, 2, D)
    # each prototype is one of the embedded features of its own class
    for p, cid in zip(protos, res['class_ids']):
        hits = np.flatnonzero((feats == p).all(1))
        assert len(hits) >= 1 and (fids[hits] == cid).all()
    # the file loads back into PrototypeBank
    bank = PrototypeBank(bank_path=out, embed_dims=D)
    assert torch.equal(bank.prototypes, torch.from_numpy(protos))
    assert bank.class_ids.tolist() == res['class_ids'].tolist()
    assert bank.class_names == res['class_names']
    bi = bank.build_info
    assert bi['source'] == 'synthetic' and bi['split'] == 'train'
    assert bi['seed'] == 0 and bi['num_clusters'] == 2
    assert bi['config'] == tiny_config and bi['checkpoint'] is None
    assert bi['encoder']['type'] == 'HTSATAudioEncoder'
    assert sum(bi['counts_per_class'].values()) == n_single
    assert len(bi['prototype_sources']) == protos.shape[0]
    assert 'date' in bi

    # determinism: the CLI with the same inputs writes the same bank
    out2 = str(tmp_path / 'bank2.pt')
    with pytest.warns(UserWarning):
        run_cli([tiny_config, '--source', 'synthetic', '--data-root',
                 syn_s4, '--out', out2, '--num-clusters', '2', '--seed', '0',
                 '--batch-size', '5', '--no-progress'])
    bank2 = PrototypeBank(bank_path=out2)
    assert torch.equal(bank.prototypes, bank2.prototypes)
    assert torch.equal(bank.class_ids, bank2.class_ids)


def test_build_bank_s4_npy_ddeseg_layout(syn_s4, tmp_path):
    out = str(tmp_path / 'bank_k2.npy')
    with pytest.warns(UserWarning):
        res = build_prototype_bank(
            dict(TINY_ENCODER), 's4', syn_s4, out=out, num_clusters=2,
            per_cluster=2, seed=3, progress=False)
    arr = np.load(out)
    c = len(set(res['class_ids'].tolist()))
    # S4 ids index the CSV's categories: all of them have clips here
    assert c == len(res['class_names'])
    assert arr.shape == (c, 4, D)  # K=2 centres x 2 features each
    assert np.array_equal(arr.reshape(-1, D), res['prototypes'])
    bank = PrototypeBank(bank_path=out)
    assert bank.class_ids.tolist() == np.repeat(np.arange(c), 4).tolist()


class _StubEncoder(torch.nn.Module):
    """embed() returns the first 4 samples of each segment."""

    def __init__(self, sr):
        super().__init__()
        self.frontend = torch.nn.Module()
        self.frontend.sample_rate = sr
        self.w = torch.nn.Parameter(torch.zeros(1))

    def embed(self, wav):
        return wav[:, :4].clone()


def test_vpo_source_centre_crop_one_second_at_a_time(tmp_path):
    import sys
    sys.path.insert(0, osp.dirname(__file__))
    from avs_fixtures import make_vpo

    from ddavs_mm.datasets import VPO_CLASSES
    root = str(tmp_path / 'VPO')
    sr = 8000
    rows = [
        dict(cateName='dog', img_Id=1, ann_Ids=[11], cateId=18,
             vgg_file='a', split='train'),
        dict(cateName='cat', img_Id=2, ann_Ids=[12], cateId=17,
             vgg_file='b', split='train'),
        dict(cateName='dog', img_Id=3, ann_Ids=[13], cateId=18,
             vgg_file='c', split='val'),
    ]
    waves = make_vpo(root, 'ss', rows, sr=sr, audio_seconds=10.0)
    items, names, _ = collect_single_source_items('vpo', root, 'train')
    assert names == list(VPO_CLASSES)
    assert [names[it.class_id] for it in items] == ['dog', 'cat']
    assert all(it.num_seconds == 3 and it.seconds == [0, 1, 2]
               for it in items)
    out = embed_items(_StubEncoder(sr), items, progress=False)
    assert out['features'].shape == (6, 4)
    start = int(3.5 * sr)  # centre 3 s of a 10 s clip
    for j, (it, key) in enumerate(zip(items, 'ab')):
        for s in range(3):
            exp = waves[key][start + s * sr:start + s * sr + 4]
            np.testing.assert_allclose(out['features'][3 * j + s], exp,
                                       atol=1e-4)
