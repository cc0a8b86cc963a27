"""Writers of the three AVSBench on-disk layouts.

* ``s4``  : ``s4_meta_data.csv`` (name,start_time,category,split) and, as
  in the AVSBench release, under ``s4_data/``:
  ``visual_frames/{split}/{category}/{name}/{name}_{1..T}.png``,
  ``gt_masks/{split}/{category}/{name}/{name}_{k}.png`` (train: k = 1 only),
  ``audio_wav/{split}/{category}/{name}.wav``.
* ``ms3`` : ``ms3_meta_data.csv`` (video_id,a_obj,split) and under
  ``ms3_data/``: ``visual_frames/{vid}/{vid}.mp4_{1..T}.png``,
  ``gt_masks/{split}/{vid}/{vid}_{1..T}.png``, ``audio_wav/{split}/{vid}.wav``.
* ``avss``: ``metadata.csv`` (vid,uid,s_min,s_max,a_obj,split,label),
  ``{label}/{uid}/frames/{0..T-1}.jpg`` (JPEG quality 95),
  ``{label}/{uid}/labels_rgb/{i}.png`` (VOC palette colours),
  ``{label}/{uid}/labels_semantic/{i}.png`` (class index),
  ``{label}/{uid}/audio.wav``; ``label2idx.json``. v1s train clips have
  labels for frame 0 only.

Binary masks are single-channel 0/255 PNGs. Each ``write_*_clip`` returns
the clip's metadata row (a dict) and the paths it wrote (relative).
"""
import csv
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import soundfile as sf

from ...visualization.palette import voc_palette
from .catalogue import CLASSES
from .render import semantic_mask, sounding_mask
from .scene import ClipScene

S4_DIR, MS3_DIR = 's4_data', 'ms3_data'
META_FILES = {'s4': 's4_meta_data.csv', 'ms3': 'ms3_meta_data.csv',
              'avss': 'metadata.csv'}
META_HEADERS = {
    's4': ['name', 'start_time', 'category', 'split'],
    'ms3': ['video_id', 'a_obj', 'split'],
    'avss': ['vid', 'uid', 's_min', 's_max', 'a_obj', 'split', 'label'],
}


def _imwrite(path: str, img: np.ndarray, jpeg: bool = False) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if img.ndim == 3:
        img = np.ascontiguousarray(img[..., ::-1])  # RGB -> BGR
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if jpeg else []
    if not cv2.imwrite(path, img, params):
        raise OSError(f'could not write image {path}')


def _wavwrite(path: str, audio: np.ndarray, sr: int) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    sf.write(path, audio, sr, subtype='PCM_16', format='WAV')


def _a_obj(scene: ClipScene) -> str:
    names = sorted({CLASSES[s.class_id].name for s in scene.sources
                    if s.onscreen and any(s.active)})
    return '_'.join(names)


def s4_category(scene: ClipScene) -> str:
    return CLASSES[scene.sources[0].class_id].name


def write_s4_clip(root: str, scene: ClipScene, frames: Sequence[np.ndarray],
                  maps: Sequence[np.ndarray], audio: np.ndarray,
                  sr: int) -> Tuple[Dict, List[str]]:
    split, name, cat = scene.split, scene.clip_id, s4_category(scene)
    written = []
    for k, (img, imap) in enumerate(zip(frames, maps), start=1):
        rel = f'{S4_DIR}/visual_frames/{split}/{cat}/{name}/{name}_{k}.png'
        _imwrite(osp.join(root, rel), img)
        written.append(rel)
        if split != 'train' or k == 1:
            rel = f'{S4_DIR}/gt_masks/{split}/{cat}/{name}/{name}_{k}.png'
            m = sounding_mask(scene, imap, k - 1).astype(np.uint8) * 255
            _imwrite(osp.join(root, rel), m)
            written.append(rel)
    rel = f'{S4_DIR}/audio_wav/{split}/{cat}/{name}.wav'
    _wavwrite(osp.join(root, rel), audio, sr)
    written.append(rel)
    return dict(name=name, start_time=0, category=cat, split=split), written


def write_ms3_clip(root: str, scene: ClipScene, frames: Sequence[np.ndarray],
                   maps: Sequence[np.ndarray], audio: np.ndarray,
                   sr: int) -> Tuple[Dict, List[str]]:
    split, vid = scene.split, scene.clip_id
    written = []
    for k, (img, imap) in enumerate(zip(frames, maps), start=1):
        rel = f'{MS3_DIR}/visual_frames/{vid}/{vid}.mp4_{k}.png'
        _imwrite(osp.join(root, rel), img)
        rel2 = f'{MS3_DIR}/gt_masks/{split}/{vid}/{vid}_{k}.png'
        m = sounding_mask(scene, imap, k - 1).astype(np.uint8) * 255
        _imwrite(osp.join(root, rel2), m)
        written += [rel, rel2]
    rel = f'{MS3_DIR}/audio_wav/{split}/{vid}.wav'
    _wavwrite(osp.join(root, rel), audio, sr)
    written.append(rel)
    return dict(video_id=vid, a_obj=_a_obj(scene), split=split), written


def write_avss_clip(root: str, scene: ClipScene, frames: Sequence[np.ndarray],
                    maps: Sequence[np.ndarray], audio: np.ndarray,
                    sr: int) -> Tuple[Dict, List[str]]:
    split, label, uid = scene.split, scene.subset, scene.clip_id
    pal = np.asarray(voc_palette(), np.uint8)
    base = f'{label}/{uid}'
    written = []
    annotated = [0] if (label == 'v1s' and split == 'train') else range(
        len(frames))
    for i, img in enumerate(frames):
        rel = f'{base}/frames/{i}.jpg'
        _imwrite(osp.join(root, rel), img, jpeg=True)
        written.append(rel)
    for i in annotated:
        sem = semantic_mask(scene, maps[i], i)
        rel_s = f'{base}/labels_semantic/{i}.png'
        rel_c = f'{base}/labels_rgb/{i}.png'
        _imwrite(osp.join(root, rel_s), sem)
        _imwrite(osp.join(root, rel_c), pal[sem])
        written += [rel_s, rel_c]
    rel = f'{base}/audio.wav'
    _wavwrite(osp.join(root, rel), audio, sr)
    written.append(rel)
    row = dict(vid=uid.rsplit('_', 1)[0], uid=uid, s_min=0,
               s_max=scene.num_frames, a_obj=_a_obj(scene), split=split,
               label=label)
    return row, written


CLIP_WRITERS = {'s4': write_s4_clip, 'ms3': write_ms3_clip,
                'avss': write_avss_clip}


def write_metadata(root: str, preset: str, rows: Sequence[Dict]) -> str:
    """Write the preset's metadata CSV (and AVSS's label2idx.json)."""
    path = osp.join(root, META_FILES[preset])
    with open(path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=META_HEADERS[preset],
                           lineterminator='\n')
        w.writeheader()
        w.writerows(rows)
    if preset == 'avss':
        label2idx = {'background': 0}
        label2idx.update({c.name: i + 1 for i, c in enumerate(CLASSES)})
        with open(osp.join(root, 'label2idx.json'), 'w') as f:
            json.dump(label2idx, f, indent=1)
            f.write('\n')
    return path
