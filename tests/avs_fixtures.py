"""Tiny on-disk fixtures in the real AVSBench / VPO layouts (for tests).

Every builder writes under a given root (pytest's ``tmp_path``): 32 x 32
frames, short wavs, CSVs with the real column names.
"""
import csv
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import soundfile as sf
from PIL import Image

SIZE = 32


def write_image(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    ok = cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok, path


def write_gray_png(path: str, arr: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(arr.astype(np.uint8), mode='L').save(path)


def write_rgb_png(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(rgb.astype(np.uint8), mode='RGB').save(path)


def write_wav(path: str, wav: np.ndarray, sr: int) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    sf.write(path, wav, sr, subtype='FLOAT')


def write_csv(path: str, header: Optional[Sequence[str]],
              rows: Sequence[Sequence]) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        if header is not None:
            w.writerow(header)
        w.writerows(rows)


def frame(seed: int, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(1, 255, (size, size, 3), dtype=np.uint8)


def square_mask(k: int, size: int = SIZE, value: int = 255) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[k:k + 8, 2:12] = value
    return m


def tone(freq: float, seconds: float, sr: int, amp: float = 0.3,
         channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    if channels > 1:
        x = np.stack([x] * channels, 1)
    return x


# -- AVSBench S4 --------------------------------------------------------------
def make_s4(root: str,
            clips: Sequence[Tuple[str, str, str]] = (
                ('clipA_1', 'dog_barking', 'train'),
                ('clipB_2', 'dog_barking', 'val'),
                ('clipC_3', 'baby_laughter', 'test')),
            sr: int = 16000,
            seconds: float = 5.0,
            header: bool = True) -> str:
    """Write an S4 tree: ``s4_meta_data.csv`` + ``s4_data/...``.

    Train clips get only ``{name}_1.png`` as mask (as the real release).
    """
    data = osp.join(root, 's4_data')
    rows = []
    for i, (name, cat, split) in enumerate(clips):
        rows.append([name, 0, cat, split])
        for k in range(1, 6):
            write_image(
                osp.join(data, 'visual_frames', split, cat, name,
                         f'{name}_{k}.png'), frame(100 * i + k))
            if split != 'train' or k == 1:
                write_gray_png(
                    osp.join(data, 'gt_masks', split, cat, name,
                             f'{name}_{k}.png'), square_mask(k))
        write_wav(
            osp.join(data, 'audio_wav', split, cat, f'{name}.wav'),
            tone(220 + 50 * i, seconds, sr), sr)
    write_csv(
        osp.join(root, 's4_meta_data.csv'),
        ['name', 'start', 'category', 'split'] if header else None, rows)
    return root


# -- AVSBench MS3 -------------------------------------------------------------
def make_ms3(root: str,
             clips: Sequence[Tuple[str, str]] = (('vidA', 'train'),
                                                 ('vidB', 'val'),
                                                 ('vidC', 'test')),
             sr: int = 16000,
             seconds: float = 5.0) -> str:
    """Write an MS3 tree (frames not split by folder, ``.mp4_k`` names)."""
    data = osp.join(root, 'ms3_data')
    rows = []
    for i, (vid, split) in enumerate(clips):
        rows.append([vid, split])
        for k in range(1, 6):
            write_image(
                osp.join(data, 'visual_frames', vid, f'{vid}.mp4_{k}.png'),
                frame(300 + 10 * i + k))
            write_gray_png(
                osp.join(data, 'gt_masks', split, vid, f'{vid}_{k}.png'),
                square_mask(k + 2))
        write_wav(
            osp.join(data, 'audio_wav', split, f'{vid}.wav'),
            tone(330 + 40 * i, seconds, sr, channels=2), sr)
    write_csv(osp.join(root, 'ms3_meta_data.csv'), ['video_id', 'split'],
              rows)
    return root


# -- AVSBench semantic --------------------------------------------------------
AVSS_CLASSES = ('background', 'dog', 'guitar', 'man')


def avss_palette(n: int) -> List[List[int]]:
    """Hand-written VOC colours for the first classes (checked in tests)."""
    known = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
             [0, 0, 128], [128, 0, 128], [0, 128, 128], [128, 128, 128],
             [64, 0, 0]]
    return known[:n]


def make_avss(root: str,
              clips: Sequence[Tuple[str, str, str]] = (
                  ('uid_v1s_tr', 'v1s', 'train'),
                  ('uid_v1m_tr', 'v1m', 'train'),
                  ('uid_v2_tr', 'v2', 'train'),
                  ('uid_v1s_te', 'v1s', 'test'),
                  ('uid_v2_te', 'v2', 'test')),
              sr: int = 16000,
              rgb_only: Sequence[str] = (),
              write_label2idx: bool = True,
              classes: Sequence[str] = AVSS_CLASSES) -> str:
    """Write an AVSS tree; clips in ``rgb_only`` have only ``labels_rgb``.

    ``classes`` is the ``label2idx.json`` list (background first); masks
    use the ids 1-3, so it needs at least 4 names.
    """
    if len(classes) < 4:
        raise ValueError(f'make_avss needs >= 4 classes, got {classes}')
    rows = []
    pal = avss_palette(4)  # masks hold ids 0-3 only
    for i, (uid, label, split) in enumerate(clips):
        rows.append([f'vid{i}', uid, 0, 10 if label == 'v2' else 5,
                     'dog', split, label])
        n = 10 if label == 'v2' else 5
        n_masks = 1 if (label == 'v1s' and split == 'train') else n
        d = osp.join(root, label, uid)
        for j in range(n):
            write_image(osp.join(d, 'frames', f'{j}.jpg'),
                        np.full((SIZE, SIZE, 3), 40 + 10 * j, np.uint8))
        for j in range(n_masks):
            idx = np.zeros((SIZE, SIZE), np.uint8)
            idx[4:12, 4:12] = 1 + (j % 3)
            if uid not in rgb_only:
                write_gray_png(osp.join(d, 'labels_semantic', f'{j}.png'),
                               idx)
            rgb = np.array(pal, np.uint8)[idx]
            write_rgb_png(osp.join(d, 'labels_rgb', f'{j}.png'), rgb)
        write_wav(osp.join(d, 'audio.wav'), tone(200 + 30 * i, n, sr), sr)
    write_csv(
        osp.join(root, 'metadata.csv'),
        ['vid', 'uid', 's_min', 's_max', 'a_obj', 'split', 'label'], rows)
    if write_label2idx:
        with open(osp.join(root, 'label2idx.json'), 'w') as f:
            json.dump({c: i for i, c in enumerate(classes)}, f)
    return root


# -- VPO ----------------------------------------------------------------------
VPO_HEADER = ['cateName', 'img_Id', 'ann_Ids', 'cateId', 'vgg_file', 'split']


def make_vpo(root: str,
             subset: str,
             rows: Sequence[Dict],
             sr: int = 16000,
             audio_seconds: float = 10.0,
             mask_style: str = 'binary',
             size: int = SIZE) -> Dict[str, np.ndarray]:
    """Write a VPO subset under ``root`` (= ``data/VPO``).

    Args:
        rows: dicts with cateName, img_Id, ann_Ids (list[int]), cateId,
            vgg_file, split, optional multi_instance and ``freq``.
        mask_style: ``'binary'`` (0/255 per instance) or ``'coco'``
            (pixel value = cateId, as VPO's own masks).

    Returns:
        dict: ``vgg_file -> waveform`` written (for hand computations).
    """
    sub_dir = dict(ss='VPO-SS', ms='VPO-MS', msmi='VPO-MSMI')
    header = VPO_HEADER + (['multi_instance'] if subset == 'msmi' else [])
    out_rows, waves = [], {}
    for i, r in enumerate(rows):
        d = sub_dir[subset]
        if subset == 'msmi' and r.get('multi_instance', 1) == 0:
            d = sub_dir['ms']
        img = osp.join(root, d, 'data', f'{r["img_Id"]:012d}.jpg')
        if not osp.exists(img):
            write_image(img, frame(r['img_Id'], size))
        for j, ann in enumerate(r['ann_Ids']):
            m = np.zeros((size, size), np.uint8)
            y = (ann * 5) % (size - 6)
            m[y:y + 6, 2 + 4 * j:8 + 4 * j] = 255 if mask_style == 'binary' \
                else r['cateId']
            write_gray_png(
                osp.join(root, d, 'mask',
                         f'{r["img_Id"]:012d}_{ann:012d}.png'), m)
        wav = tone(r.get('freq', 300 + 37 * i), audio_seconds, sr,
                   amp=0.2)
        wav[:len(wav) // 2] *= 0.5  # asymmetric: the centre crop matters
        waves[r['vgg_file']] = wav
        write_wav(osp.join(root, 'audios', f'{r["vgg_file"]}.wav'), wav, sr)
        ann_cell = ' '.join(str(a) for a in r['ann_Ids'])
        row = [r['cateName'], r['img_Id'], ann_cell, r['cateId'],
               r['vgg_file'], r['split']]
        if subset == 'msmi':
            row.append(r.get('multi_instance', 1))
        out_rows.append(row)
    write_csv(
        osp.join(root, sub_dir[subset], f'vpo_{subset}_data_stereo.csv'),
        header, out_rows)
    return waves


# -- one small data set per official layout, every split ----------------------
#: AVSBench-semantic's class count (71 incl. background) with placeholder
#: names: what the 71-class AVSS configs expect of a real label2idx.json.
AVSS_71_CLASSES = ('background', ) + tuple(
    f'class_{i:02d}' for i in range(1, 71))


def make_vpo_subsets(root: str, sr: int = 16000) -> str:
    """Write VPO-SS, VPO-MS and VPO-MSMI under ``root`` (= ``data/VPO``)
    with ``train`` and ``val`` rows (VPO's ``val`` rows are our val and test
    splits), COCO-valued masks as in VPO's own files."""
    ss = [
        dict(cateName='dog', img_Id=1, ann_Ids=[11], cateId=18,
             vgg_file='ss_dog', split='train'),
        dict(cateName='car', img_Id=2, ann_Ids=[12], cateId=3,
             vgg_file='ss_car', split='train'),
        dict(cateName='bird', img_Id=3, ann_Ids=[13], cateId=16,
             vgg_file='ss_bird', split='val'),
    ]
    ms = [
        dict(cateName='dog', img_Id=21, ann_Ids=[31], cateId=18,
             vgg_file='ms_dog', split='train'),
        dict(cateName='male', img_Id=21, ann_Ids=[32, 33], cateId=92,
             vgg_file='ms_male', split='train'),
        dict(cateName='car', img_Id=22, ann_Ids=[34], cateId=3,
             vgg_file='ms_car', split='train'),
        dict(cateName='cat', img_Id=23, ann_Ids=[35], cateId=17,
             vgg_file='ms_cat', split='val'),
    ]
    msmi = [
        dict(cateName='horse', img_Id=41, ann_Ids=[51, 52], cateId=19,
             vgg_file='mi_horse', split='train', multi_instance=1),
        dict(cateName='baby', img_Id=41, ann_Ids=[53], cateId=94,
             vgg_file='mi_baby', split='train', multi_instance=1),
        dict(cateName='car', img_Id=22, ann_Ids=[34], cateId=3,
             vgg_file='ms_car', split='train', multi_instance=0),
        dict(cateName='sheep', img_Id=42, ann_Ids=[54, 55], cateId=20,
             vgg_file='mi_sheep', split='val', multi_instance=1),
    ]
    for subset, rows in (('ss', ss), ('ms', ms), ('msmi', msmi)):
        make_vpo(root, subset, rows, sr=sr, mask_style='coco')
    return root


def make_official_layout(root: str, layout: str, sr: int = 16000) -> str:
    """One small data set with train, val and test clips in an official
    layout: ``'s4'``, ``'ms3'``, ``'avss'`` (71 classes, all three subsets)
    or ``'vpo'`` (all three subsets). Returns ``root``."""
    if layout == 's4':
        return make_s4(root, clips=(('clipA_1', 'dog_barking', 'train'),
                                    ('clipB_2', 'baby_laughter', 'train'),
                                    ('clipC_3', 'dog_barking', 'val'),
                                    ('clipD_4', 'baby_laughter', 'test')),
                       sr=sr)
    if layout == 'ms3':
        return make_ms3(root, clips=(('vidA', 'train'), ('vidB', 'train'),
                                     ('vidC', 'val'), ('vidD', 'test')),
                        sr=sr)
    if layout == 'avss':  # padded 5-frame clips (v1s, v1m) and v2 ones
        return make_avss(root, clips=(('uid_v1s_tr', 'v1s', 'train'),
                                      ('uid_v2_tr', 'v2', 'train'),
                                      ('uid_v1m_va', 'v1m', 'val'),
                                      ('uid_v2_te', 'v2', 'test')),
                         sr=sr, classes=AVSS_71_CLASSES)
    if layout == 'vpo':
        return make_vpo_subsets(root, sr=sr)
    raise ValueError(f'unknown layout {layout!r}; expected s4, ms3, avss or '
                     'vpo')
