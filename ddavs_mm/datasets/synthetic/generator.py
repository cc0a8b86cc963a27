"""Generate a synthetic AVS data set in one of the AVSBench layouts."""
import json
import multiprocessing as mp
import os
import os.path as osp
import shutil
import time
from typing import Dict, Iterator, List, Optional, Tuple

import cv2

from .audio import mix_clip
from .catalogue import SIZE_BINS, SIZE_RATIO, catalogue_dict
from .layouts import CLIP_WRITERS, write_metadata
from .render import render_clip
from .scene import PRESETS, SCENE_CFG, SPLITS, sample_scene

GENERATOR_VERSION = '1.0.0'
INFO_FILE = 'synthetic_info.json'


def _mask_paths(info_files: List[str], num_frames: int, preset: str
                ) -> List[Optional[str]]:
    masks = [p for p in info_files if '/gt_masks/' in '/' + p
             or '/labels_semantic/' in p]
    out: List[Optional[str]] = [None] * num_frames
    for p in masks:
        stem = osp.splitext(osp.basename(p))[0]
        k = int(stem.rsplit('_', 1)[-1]) - 1 if preset != 'avss' else int(stem)
        out[k] = p
    return out


def generate_clip(task: Tuple) -> Tuple[Dict, Dict, List[Dict]]:
    """Render, sonify and write one clip.

    Args:
        task (tuple): (root, preset, split, index, seed, size, frames,
            sample_rate).

    Returns:
        tuple: metadata row, clip record for the sidecar, single-source
        segments of the clip.
    """
    root, preset, split, index, seed, size, frames, sr = task
    scene = sample_scene(seed, preset, split, index, size, frames)
    imgs, maps = render_clip(scene, seed)
    audio = mix_clip(scene, seed, sr)
    row, written = CLIP_WRITERS[preset](root, scene, imgs, maps, audio, sr)
    rec = scene.to_dict()
    rec['audio_path'] = [p for p in written if p.endswith('.wav')][0]
    rec['frame_paths'] = [p for p in written
                          if p.endswith('.jpg') or '/visual_frames/' in
                          '/' + p]
    rec['mask_paths'] = _mask_paths(written, scene.num_frames, preset)
    rec['empty_seconds'] = [k for k in range(scene.num_frames)
                            if not scene.sounding_instances(k)]
    singles = []
    for k in range(scene.num_frames):
        aud = scene.audible_sources(k)
        if len(aud) == 1:
            singles.append(dict(clip_id=scene.clip_id, split=split, second=k,
                                class_id=aud[0].class_id,
                                size_bin=aud[0].size_bin,
                                onscreen=aud[0].onscreen,
                                audio_path=rec['audio_path']))
    return row, rec, singles


def _worker_init() -> None:
    cv2.setNumThreads(1)


def generate_synthetic_avs(out_dir: str,
                           preset: str = 'ms3',
                           seed: int = 0,
                           num_train: int = 400,
                           num_val: int = 50,
                           num_test: int = 100,
                           size: int = 224,
                           frames: int = 5,
                           sample_rate: int = 16000,
                           workers: int = 1,
                           overwrite: bool = False) -> Dict:
    """Generate the synthetic data set of one preset under ``out_dir``.

    Args:
        out_dir (str): Output root (the data set's ``data_root``). Must be
            empty or missing, unless ``overwrite`` and it holds an earlier
            synthetic data set (``synthetic_info.json``).
        preset (str): 's4', 'ms3' or 'avss'.
        seed (int): Seed; same seed and arguments give byte-identical files.
        num_train, num_val, num_test (int): Clips per split.
        size (int): Frame side in pixels.
        frames (int): Frames (= seconds) per clip; AVSS v2 clips get twice.
        sample_rate (int): Sample rate of the written wavs.
        workers (int): Processes; results do not depend on it.
        overwrite (bool): Replace an earlier synthetic data set.

    Returns:
        dict: summary (counts, seconds taken, paths).
    """
    if preset not in PRESETS:
        raise ValueError(f'unknown preset {preset!r}; expected {PRESETS}')
    if size < 16 or frames < 1 or sample_rate < 4000:
        raise ValueError(f'bad size/frames/sample_rate: {size}/{frames}/'
                         f'{sample_rate}')
    counts = dict(train=num_train, val=num_val, test=num_test)
    if any(n < 0 for n in counts.values()):
        raise ValueError(f'clip counts must be >= 0, got {counts}')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        if overwrite and osp.isfile(osp.join(out_dir, INFO_FILE)):
            shutil.rmtree(out_dir)
        else:
            raise FileExistsError(
                f'{out_dir} is not empty (pass overwrite=True / --overwrite '
                'to replace an earlier synthetic data set)')
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    tasks = [(out_dir, preset, split, i, seed, size, frames, sample_rate)
             for split in SPLITS for i in range(counts[split])]
    if workers > 1:
        ctx = mp.get_context('fork')
        with ctx.Pool(workers, initializer=_worker_init) as pool:
            results = pool.map(generate_clip, tasks, chunksize=4)
    else:
        results = [generate_clip(t) for t in tasks]
    rows = [r[0] for r in results]
    meta = write_metadata(out_dir, preset, rows)
    info = dict(
        generator='ddavs_mm.datasets.synthetic',
        version=GENERATOR_VERSION,
        preset=preset, seed=seed, size=size, frames=frames,
        sample_rate=sample_rate, segment_seconds=1.0,
        splits=counts,
        size_bins=[dict(name=n, lo=lo, hi=hi) for n, lo, hi in SIZE_BINS],
        size_rule=(f'frequencies and rates of a class sound are multiplied '
                   f'by {SIZE_RATIO} ** size_bin (0 large, 1 medium, '
                   f'2 small)'),
        scene_cfg=SCENE_CFG,
        classes=catalogue_dict(),
        clips=[r[1] for r in results],
        single_source_index=[s for r in results for s in r[2]],
    )
    with open(osp.join(out_dir, INFO_FILE), 'w') as f:
        json.dump(info, f, sort_keys=True)
        f.write('\n')
    return dict(out_dir=out_dir, preset=preset, metadata=meta,
                num_clips=len(rows), seconds=time.perf_counter() - t0,
                info=osp.join(out_dir, INFO_FILE))


def load_info(root: str) -> Dict:
    """Read ``synthetic_info.json`` of a generated data set."""
    path = osp.join(root, INFO_FILE)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: {root} is not a '
                                'synthetic AVS data set')
    with open(path) as f:
        return json.load(f)


def iter_rendered_clips(info: Dict, split: str) -> Iterator[Tuple]:
    """Re-render every clip of ``split`` from a data set's sidecar.

    Args:
        info (dict): the data set's ``synthetic_info.json`` (``load_info``).
        split (str): 'train', 'val' or 'test'.

    Yields:
        tuple: ``(record, scene, maps)``: the clip's sidecar record, its
        :class:`ClipScene` and its per-frame instance maps (int16 ``[H, W]``,
        uid per pixel, -1 for background).
    """
    for rec in info['clips']:
        if rec['split'] != split:
            continue
        scene = sample_scene(info['seed'], info['preset'], split,
                             rec['index'], info['size'], info['frames'])
        _, maps = render_clip(scene, info['seed'])
        yield rec, scene, maps
