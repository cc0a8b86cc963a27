"""Prototype bank builder: K-means selection, data sources, file round trip."""
import json
import os.path as osp
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

import ddavs_mm  # noqa: F401
from ddavs_mm.apis.prototype_bank_builder import (build_audio_encoder,
                                                  build_prototype_bank,
                                                  cluster_bank, embed_items,
                                                  select_prototypes)
from ddavs_mm.datasets.single_source_segments import \
    collect_single_source_items
from ddavs_mm.datasets.synthetic import generate_synthetic_avs, load_info
from ddavs_mm.models.audio_query import PrototypeBank
from ddavs_mm.models.audio_query.prototype_bank import load_bank, save_bank

sys.path.insert(0, osp.dirname(__file__))
from avs_fixtures import make_avss, write_gray_png  # noqa: E402

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
    sel, real, info = select_prototypes(x, num_clusters=2, per_cluster=1,
                                        seed=0)
    near_a = int(np.argmin(((a - a.mean(0))**2).sum(1)))
    near_b = 5 + int(np.argmin(((b - b.mean(0))**2).sum(1)))
    # largest cluster first, each prototype is the point nearest its mean
    assert sel.tolist() == [near_b, near_a]
    assert info['cluster_sizes'] == [6, 5] and info['k'] == 2
    assert real.tolist() == [True, True] and info['rule'] is None

    sel2, _, info2 = select_prototypes(x, num_clusters=2, per_cluster=2,
                                       seed=0)
    db = ((b - b.mean(0))**2).sum(1)
    da = ((a - a.mean(0))**2).sum(1)
    assert sel2.tolist() == (5 + np.argsort(db)[:2]).tolist() + \
        np.argsort(da)[:2].tolist()
    assert info2['per_cluster'] == 2


def test_select_prototypes_small_class_rule():
    x = np.arange(6, dtype=np.float64).reshape(3, 2)
    with pytest.warns(UserWarning, match='ragged'):
        sel, real, info = select_prototypes(x, num_clusters=5, per_cluster=1)
    assert info['k'] == 3 and sorted(sel.tolist()) == [0, 1, 2]
    assert real.all() and info['rule'] == 'fewer'
    with pytest.warns(UserWarning):
        sel, real, info = select_prototypes(x, num_clusters=5, per_cluster=2)
    assert info['k'] == 1 and info['per_cluster'] == 2 and len(set(sel)) == 2
    # K=1 centre = the mean, row 1: it and then row 0 (tie with row 2, the
    # lower index wins)
    assert sel.tolist() == [1, 0]
    # duplicate: the 3 real prototypes, then the first 2 again
    with pytest.warns(UserWarning, match='duplicated up to 5'):
        sel_d, real_d, info_d = select_prototypes(
            x, num_clusters=5, per_cluster=1, small_class='duplicate')
    assert sel_d.tolist() == sel_d[:3].tolist() + sel_d[:2].tolist()
    assert sorted(sel_d[:3].tolist()) == [0, 1, 2]
    assert real_d.tolist() == [True] * 3 + [False] * 2
    assert info_d['rule'] == 'duplicate' and info_d['k'] == 3
    with pytest.raises(ValueError, match="small_class='error'"):
        select_prototypes(x, num_clusters=5, small_class='error')
    with pytest.raises(ValueError, match='small_class must be'):
        select_prototypes(x, num_clusters=1, small_class='pad')
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
    assert out['real'].all() and out['per_class']['a']['num_real'] == 3
    with pytest.warns(UserWarning):
        dup = cluster_bank(feats, ids, ['a', 'b', 'c'], num_clusters=4,
                           small_class='duplicate')
    # class 0 padded to K = 4 rows, one of them a duplicate
    assert dup['class_ids'].tolist() == [0] * 4 + [2] * 4
    assert dup['real'].tolist() == [True] * 3 + [False] + [True] * 4
    assert dup['indices'][3] == dup['indices'][0]
    assert dup['per_class']['a']['num_prototypes'] == 4


def _selection_by_hand(x, labels, centres, m):
    """The documented rule with exact squared distances and plain loops:
    clusters largest first (ties: the lower index of their nearest
    feature); per centre its own members nearest first, then the other
    features nearest first, lower index on equal distance, none twice."""
    n, k = len(x), len(centres)
    d = [[float(((x[i] - centres[j])**2).sum()) for j in range(k)]
         for i in range(n)]
    size = [int((labels == j).sum()) for j in range(k)]
    near = [min(range(n), key=lambda i: (d[i][j], i)) for j in range(k)]
    taken, out = set(), []
    for j in sorted(range(k), key=lambda j: (-size[j], near[j])):
        rank = sorted(range(n), key=lambda i: (labels[i] != j, d[i][j], i))
        picks = [i for i in rank if i not in taken][:m]
        taken.update(picks)
        out += picks
    return out


@pytest.mark.parametrize('k,m', [(3, 1), (4, 2), (2, 3)])
def test_select_prototypes_matches_the_rule_by_hand(k, m):
    """km.transform's distances give the selection that exact distances
    give, ties included (the 2-member clusters of these small classes)."""
    from sklearn.cluster import KMeans
    rng = np.random.default_rng(k * 10 + m)
    for trial in range(5):
        n = int(rng.integers(k * m, k * m + 8))
        x = rng.normal(size=(n, 6)).astype(np.float32)
        x[-1] = x[0]  # a duplicated feature: an exact tie
        sel, real, info = select_prototypes(x, k, m, seed=trial, n_init=3)
        with warnings.catch_warnings():  # the duplicate: fewer clusters
            warnings.simplefilter('ignore')
            km = KMeans(n_clusters=k, init='k-means++', n_init=3,
                        random_state=trial).fit(x.astype(np.float64))
        assert sel.tolist() == _selection_by_hand(
            x.astype(np.float64), km.labels_, km.cluster_centers_, m)
        assert real.all() and len(set(sel.tolist())) == k * m


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
    items, names, notes = collect_single_source_items(
        'avss', syn_avss, 'train', labels=('v1s', ))
    assert names[0] == 'background'
    info = load_info(syn_avss)
    v1s = {c['clip_id']: c for c in info['clips'] if c['subset'] == 'v1s'}
    assert len(items) == len(v1s) > 0
    for it in items:
        src = v1s[it.clip_id]['sources'][0]
        assert names[it.class_id] == src['class_name']
        assert it.num_seconds == FRAMES and it.seconds == list(range(FRAMES))


def test_avss_rule_against_synthetic_ground_truth(syn_avss):
    """v1s + v1m + v2 on a synthetic AVSS set, whose sidecar knows which
    sources sound in every second: each second the rule takes has its
    class audible then, and every second in which one on-screen source
    sounds alone is found with its class."""
    items, names, notes = collect_single_source_items('avss', syn_avss,
                                                      'train')
    info = load_info(syn_avss)
    clips = {c['clip_id']: c for c in info['clips']}
    assert {it.subset for it in items} == {'v1s', 'v1m', 'v2'}
    got = {}
    for it in items:
        assert it.num_classes == 1
        assert it.num_seconds == len(clips[it.clip_id]['frame_paths'])
        for s in it.seconds:
            assert (it.clip_id, s) not in got  # one class per second
            got[it.clip_id, s] = names[it.class_id]
            audible = {src['class_name'] for src in
                       clips[it.clip_id]['sources'] if src['active'][s]}
            assert names[it.class_id] in audible
    truth = [e for e in info['single_source_index']
             if e['split'] == 'train' and e['onscreen']]
    assert truth
    for e in truth:
        assert got[e['clip_id'], e['second']] == names[e['class_id'] + 1]
    assert set(notes['present_classes']) == set(got.values())


@pytest.fixture
def avss_root(tmp_path):
    """make_avss's train clips (v1s: dog; v1m frames: dog guitar man dog
    guitar; v2 frames: dog guitar man x3, dog) with three label maps
    rewritten and a fifth class, piano, labelled only beside man."""
    from avs_fixtures import AVSS_CLASSES, SIZE
    root = make_avss(str(tmp_path / 'AVSS'))
    with open(osp.join(root, 'label2idx.json'), 'w') as f:
        json.dump({c: i for i, c in
                   enumerate(AVSS_CLASSES + ('piano', ))}, f)

    def label(sub, uid, j, arr):
        write_gray_png(osp.join(root, sub, uid, 'labels_semantic',
                                f'{j}.png'), arr)

    two = np.zeros((SIZE, SIZE), np.uint8)
    two[4:12, 4:12], two[20:28, 4:12] = 3, 4  # man + piano
    label('v1m', 'uid_v1m_tr', 2, two)
    label('v2', 'uid_v2_tr', 9, np.zeros((SIZE, SIZE), np.uint8))
    ignore = np.zeros((SIZE, SIZE), np.uint8)
    ignore[4:12, 4:12], ignore[0:2] = 2, 255  # guitar + ignore pixels
    label('v2', 'uid_v2_tr', 4, ignore)
    return root


def test_avss_official_layout_counts_by_hand(avss_root):
    items, names, notes = collect_single_source_items('avss', avss_root)
    assert names == ['background', 'dog', 'guitar', 'man', 'piano']
    got = sorted((it.clip_id, it.subset, names[it.class_id], it.seconds,
                  it.num_seconds) for it in items)
    assert got == [
        ('uid_v1m_tr', 'v1m', 'dog', [0, 3], 5),
        ('uid_v1m_tr', 'v1m', 'guitar', [1, 4], 5),
        ('uid_v1s_tr', 'v1s', 'dog', [0, 1, 2, 3, 4], 5),
        ('uid_v2_tr', 'v2', 'dog', [0, 3, 6], 10),
        ('uid_v2_tr', 'v2', 'guitar', [1, 4, 7], 10),
        ('uid_v2_tr', 'v2', 'man', [2, 5, 8], 10),
    ]
    assert notes['present_classes'] == ['dog', 'guitar', 'man', 'piano']
    assert notes['single_source_seconds_by_subset'] == dict(
        dog=dict(v1s=5, v1m=2, v2=3), guitar=dict(v1s=0, v1m=2, v2=3),
        man=dict(v1s=0, v1m=0, v2=3), piano=dict(v1s=0, v1m=0, v2=0))
    fb = notes['fallback_items']
    assert list(fb) == [4] and len(fb[4]) == 1
    assert (fb[4][0].clip_id, fb[4][0].seconds, fb[4][0].num_classes) == \
        ('uid_v1m_tr', [2], 2)
    # v1s alone: the one clip, all its seconds
    v1s, _, _ = collect_single_source_items('avss', avss_root,
                                            labels=('v1s', ))
    assert [(it.clip_id, it.seconds) for it in v1s] == \
        [('uid_v1s_tr', [0, 1, 2, 3, 4])]


def test_avss_bank_every_class_duplicate_rule(avss_root, tmp_path, capsys):
    """dog 10 / guitar 5 / man 3 single-source seconds, piano 1 mixed one:
    with K=5 man and piano are padded by duplicates, and the file says
    how many prototypes are real."""
    out = str(tmp_path / 'avss_bank.pt')
    enc_cfg = tmp_path / 'enc.py'
    enc_cfg.write_text(f'model = dict(audio_encoder={TINY_ENCODER!r})\n')
    with pytest.warns(UserWarning):
        run_cli([str(enc_cfg), '--source', 'avss', '--data-root', avss_root,
                 '--out', out, '--small-class', 'duplicate',
                 '--no-progress'])
    printed = capsys.readouterr().out
    summary = json.loads(printed[printed.index('{\n "out"'):])
    assert summary['shape'] == [20, D] and summary['classes'] == 4
    assert summary['fallback_classes'] == dict(
        piano=dict(seconds=1, classes_per_second=2))
    assert summary['small_classes'] == dict(man='duplicate',
                                            piano='duplicate')
    bank = PrototypeBank(bank_path=out, embed_dims=D)
    assert bank.class_ids.tolist() == [1] * 5 + [2] * 5 + [3] * 5 + [4] * 5
    assert bank.real_prototypes_per_class == {1: 5, 2: 5, 3: 3, 4: 1}
    assert bank.real.tolist() == [True] * 13 + [False] * 2 + \
        [True] + [False] * 4
    bi = bank.build_info
    assert bi['counts_per_class'] == dict(dog=10, guitar=5, man=3, piano=1)
    assert bi['real_prototypes_per_class'] == dict(dog=5, guitar=5, man=3,
                                                   piano=1)
    assert bi['prototypes_per_class'] == dict(dog=5, guitar=5, man=5,
                                              piano=5)
    assert bi['small_classes'] == dict(man='duplicate', piano='duplicate')
    assert bi['fallback_classes'] == dict(
        piano=dict(seconds=1, classes_per_second=2))
    assert bi['missing_classes'] == []
    assert bi['prototype_sources'][15:] == ['uid_v1m_tr@2'] * 5
    # duplicates repeat the class's own real rows, largest cluster first
    p = bank.prototypes
    assert torch.equal(p[13], p[10]) and torch.equal(p[14], p[11])
    assert len({s for s in bi['prototype_sources'][10:13]}) == 3
    assert sorted(s.split('@')[1] for s in
                  bi['prototype_sources'][10:13]) == ['2', '5', '8']
    # the same bank in .npz keeps the flags; .npy cannot and refuses
    data = load_bank(out)
    npz = save_bank(str(tmp_path / 'b.npz'), data['prototypes'],
                    data['class_ids'], data['class_names'],
                    data['build_info'], real=data['real'])
    assert torch.equal(load_bank(npz)['real'], data['real'])
    with pytest.raises(ValueError, match='duplicated'):
        save_bank(str(tmp_path / 'b.npy'), data['prototypes'],
                  data['class_ids'], real=data['real'])


def test_avss_bank_fewer_rule_and_no_fallback(avss_root):
    with pytest.warns(UserWarning):
        res = build_prototype_bank(dict(TINY_ENCODER), 'avss', avss_root,
                                   progress=False)
    assert res['class_ids'].tolist() == [1] * 5 + [2] * 5 + [3] * 3 + [4]
    assert res['real'].all()
    bi = res['build_info']
    assert bi['small_classes'] == dict(man='fewer', piano='fewer')
    assert bi['clusters']['man']['k'] == 3
    with pytest.warns(UserWarning):
        res = build_prototype_bank(dict(TINY_ENCODER), 'avss', avss_root,
                                   mixed_fallback=False, progress=False)
    assert 4 not in res['class_ids'].tolist()
    assert res['build_info']['missing_classes'] == ['piano']
    assert res['build_info']['fallback_classes'] == {}
    with pytest.warns(UserWarning), pytest.raises(ValueError,
                                                  match='man'):
        build_prototype_bank(dict(TINY_ENCODER), 'avss', avss_root,
                             small_class='error', progress=False)


def test_bank_file_without_real_flags_is_all_real(tmp_path):
    """Banks written before the flags existed load with every row real."""
    path = str(tmp_path / 'old.pt')
    torch.save(dict(prototypes=torch.ones(3, 2),
                    class_ids=torch.tensor([0, 0, 1])), path)
    bank = PrototypeBank(bank_path=path)
    assert bank.real.tolist() == [True] * 3
    assert bank.real_prototypes_per_class == {0: 2, 1: 1}
    assert 'real' not in bank.state_dict()  # checkpoints keep their keys
    torch.save(dict(prototypes=torch.ones(3, 2),
                    class_ids=torch.tensor([0, 0, 1]),
                    real=torch.tensor([1, 0, 1])), path)
    with pytest.raises(ValueError, match='real must be a bool'):
        load_bank(path)


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
    state = {f'audio_encoder.{k}': v for k, v in ref.state_dict().items()}
    state['backbone.stem.weight'] = torch.zeros(3)  # another sub-model
    torch.save(dict(state_dict=state, meta=dict(epoch=1)), ckpt)
    enc, info = build_audio_encoder(dict(TINY_ENCODER), checkpoint=ckpt)
    assert info['checkpoint'] == ckpt and 'model checkpoint' in \
        info['weights']
    for k, v in ref.state_dict().items():
        assert torch.equal(enc.state_dict()[k], v), k
    # a missing encoder weight is an error naming the file and the key
    gone = min(k for k in state if k.startswith('audio_encoder.audio'))
    del state[gone]
    bad = str(tmp_path / 'ddavs_bad.pth')
    torch.save(dict(state_dict=state), bad)
    key = gone[len('audio_encoder.'):].replace('.', r'\.')
    with pytest.raises(ValueError, match=rf'(?s)ddavs_bad\.pth.*: {key}'):
        build_audio_encoder(dict(TINY_ENCODER), checkpoint=bad)
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
