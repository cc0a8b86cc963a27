"""Scene sampling: which objects are visible, where, and which sound when.

A scene is a pure function of ``(seed, preset, split, index, size, frames)``:
:func:`clip_rngs` derives the clip's random generators from those numbers, so
workers, re-renders (overlays, the visual-only oracle) and reruns agree.

Vocabulary:

* *instance*: a visible object (class, size bin, per-frame centre).
* *source*: something that can be heard: a class in one size bin. An
  on-screen source owns one instance (two for a multi-instance source, same
  class and size bin, sounding together); an off-screen source owns none and
  never contributes to a mask.
* roles of instances: ``sounding`` (owned by a source), ``lookalike`` (silent,
  same class as a source but another size bin, so another pitch) and
  ``distractor`` (silent, a class no source has).

Within one clip every (class, size bin) pair belongs to at most one source or
silent instance, so the audio always decides which visible objects sound.
"""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from .catalogue import CLASSES, SIZE_BINS

PRESETS = ('s4', 'ms3', 'avss')
SPLITS = ('train', 'val', 'test')
AVSS_SUBSETS = ('v1s', 'v1m', 'v2')

#: Per-preset sampling knobs (documented in docs/synthetic_data.md).
SCENE_CFG: Dict[str, Dict] = {
    'single': dict(p_multi_instance=0.15, p_lookalike=0.25,
                   n_distractor_p=(0.35, 0.40, 0.25)),
    'multi': dict(n_visible_p=(0.04, 0.22, 0.40, 0.34),
                  max_sources=3, p_multi_instance=0.15, p_lookalike=0.4,
                  p_empty=0.10, p_active=0.5, p_offscreen=0.35,
                  p_offscreen_active=0.5),
}


@dataclass
class Instance:
    """A visible object. ``centres`` are pixel (x, y) per frame."""
    uid: int
    class_id: int
    size_bin: int
    size_px: float
    centres: List[Tuple[float, float]]
    angle: float
    role: str
    source: Optional[int] = None


@dataclass
class Source:
    """A sound source; ``active[k]`` says whether it sounds in second k."""
    sid: int
    class_id: int
    size_bin: int
    instances: List[int]
    active: List[bool]
    gain_db: float

    @property
    def onscreen(self) -> bool:
        return bool(self.instances)


@dataclass
class ClipScene:
    """Everything needed to render and sonify one clip."""
    preset: str
    split: str
    index: int
    clip_id: str
    subset: str
    num_frames: int
    size: int
    instances: List[Instance] = field(default_factory=list)
    sources: List[Source] = field(default_factory=list)
    draw_order: List[int] = field(default_factory=list)
    snr_db: float = 20.0

    def sounding_instances(self, k: int) -> List[int]:
        """Instance uids whose source sounds in second ``k``."""
        out = []
        for s in self.sources:
            if s.active[k]:
                out.extend(s.instances)
        return sorted(out)

    def audible_sources(self, k: int) -> List[Source]:
        return [s for s in self.sources if s.active[k]]

    def to_dict(self) -> Dict:
        d = asdict(self)
        for inst in d['instances']:
            inst['class_name'] = CLASSES[inst['class_id']].name
            inst['size_frac'] = round(inst['size_px'] / self.size, 4)
            inst['centres'] = [[round(x, 2), round(y, 2)]
                               for x, y in inst['centres']]
            inst['size_px'] = round(inst['size_px'], 2)
            inst['angle'] = round(inst['angle'], 2)
        for s in d['sources']:
            s['class_name'] = CLASSES[s['class_id']].name
            s['onscreen'] = bool(s['instances'])
            s['gain_db'] = round(s['gain_db'], 2)
        d['snr_db'] = round(self.snr_db, 2)
        d['sounding_per_frame'] = [
            self.sounding_instances(k) for k in range(self.num_frames)]
        return d


def clip_rngs(seed: int, preset: str, split: str,
              index: int) -> Tuple[np.random.Generator, ...]:
    """Three independent generators (scene, render, audio) of one clip."""
    ss = np.random.SeedSequence(
        [int(seed), PRESETS.index(preset), SPLITS.index(split), int(index)])
    return tuple(np.random.default_rng(s) for s in ss.spawn(3))


def clip_identity(preset: str, split: str, index: int,
                  frames: int) -> Tuple[str, str, int]:
    """(clip_id, avss subset or '', number of frames) of a clip."""
    if preset == 'avss':
        subset = AVSS_SUBSETS[index % 3]
        n = 2 * frames if subset == 'v2' else frames
        return f'avss_{split}_{index:05d}_0', subset, n
    return f'{preset}_{split}_{index:05d}', '', frames


#: Fraction of a bin's width kept free next to a neighbouring bin, so that
#: objects of different size bins differ visibly in size.
BIN_MARGIN = 0.15


def _size_px(rng: np.random.Generator, size_bin: int, side: int) -> float:
    _, lo, hi = SIZE_BINS[size_bin]
    m = BIN_MARGIN * (hi - lo)
    lo2 = lo + m if size_bin < len(SIZE_BINS) - 1 else lo  # small: keep 0.06
    hi2 = hi - m if size_bin > 0 else hi - 1e-3            # large: keep 0.40
    return float(rng.uniform(lo2, hi2)) * side


def _place(rng, sizes: List[float], side: int, frames: int
           ) -> List[List[Tuple[float, float]]]:
    """Centres per object and frame: low-overlap start + small random walk."""
    jit = 0.04 * side
    boxes: List[Tuple[float, float, float]] = []
    for s in sizes:
        lo, hi = s / 2 + jit, side - s / 2 - jit
        best, best_ov = None, None
        for _ in range(60):
            c = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
            ov = 0.0
            for (x, y, t) in boxes:
                ix = max(0., min(c[0] + s / 2, x + t / 2) -
                         max(c[0] - s / 2, x - t / 2))
                iy = max(0., min(c[1] + s / 2, y + t / 2) -
                         max(c[1] - s / 2, y - t / 2))
                ov = max(ov, ix * iy / min(s * s, t * t))
            if best_ov is None or ov < best_ov:
                best, best_ov = c, ov
            if ov <= 0.02:
                break
        boxes.append((best[0], best[1], s))
    out = []
    for (x, y, _) in boxes:
        walk = np.clip(np.cumsum(rng.normal(0, 0.012 * side, (frames, 2)),
                                 axis=0), -jit, jit)
        walk -= walk[0]
        out.append([(x + float(dx), y + float(dy)) for dx, dy in walk])
    return out


def _finish(rng, scene: ClipScene, specs: List[Tuple[int, int, str, int]]):
    """Create instances from (class, bin, role, source) specs; place them."""
    side, T = scene.size, scene.num_frames
    sizes = [_size_px(rng, b, side) for (_, b, _, _) in specs]
    centres = _place(rng, sizes, side, T)
    for uid, ((c, b, role, sid), s, cen) in enumerate(
            zip(specs, sizes, centres)):
        inst = Instance(uid, c, b, s, cen, float(rng.uniform(-25, 25)), role,
                        sid if sid >= 0 else None)
        scene.instances.append(inst)
        if sid >= 0:
            scene.sources[sid].instances.append(uid)
    scene.draw_order = [int(i) for i in rng.permutation(len(specs))]
    scene.snr_db = float(rng.uniform(8.0, 30.0))


def _gain(rng) -> float:
    return float(rng.uniform(-12.0, 0.0))


def _sample_single(rng, scene: ClipScene) -> None:
    """S4 / AVSS-v1s: one source sounding all the time + silent objects."""
    cfg, T, n_cls = SCENE_CFG['single'], scene.num_frames, len(CLASSES)
    cls = int(rng.integers(n_cls))
    b = int(rng.integers(len(SIZE_BINS)))
    scene.sources.append(Source(0, cls, b, [], [True] * T, _gain(rng)))
    specs = [(cls, b, 'sounding', 0)]
    if rng.random() < cfg['p_multi_instance']:
        specs.append((cls, b, 'sounding', 0))
    used = {(cls, b)}
    if rng.random() < cfg['p_lookalike']:
        lb = int(rng.choice([x for x in range(len(SIZE_BINS)) if x != b]))
        specs.append((cls, lb, 'lookalike', -1))
        used.add((cls, lb))
    n_d = int(rng.choice(len(cfg['n_distractor_p']), p=cfg['n_distractor_p']))
    others = [c for c in range(n_cls) if c != cls]
    for c in rng.permutation(others)[:min(n_d, 4 - len(specs))]:
        specs.append((int(c), int(rng.integers(len(SIZE_BINS))),
                      'distractor', -1))
    _finish(rng, scene, specs)


def _sample_multi(rng, scene: ClipScene) -> None:
    """MS3 / AVSS-v1m / v2: several sources switching on and off per second."""
    cfg, T, n_cls = SCENE_CFG['multi'], scene.num_frames, len(CLASSES)
    n_bins = len(SIZE_BINS)
    n_vis = 1 + int(rng.choice(4, p=cfg['n_visible_p']))
    # at least one silent visible object whenever two or more are visible
    n_src = int(rng.integers(1, min(cfg['max_sources'],
                                    max(1, n_vis - 1)) + 1))
    multi = n_vis > n_src and rng.random() < cfg['p_multi_instance']
    classes = [int(c) for c in rng.permutation(n_cls)]
    specs = []
    for sid in range(n_src):
        c, b = classes.pop(), int(rng.integers(n_bins))
        scene.sources.append(Source(sid, c, b, [], [False] * T, _gain(rng)))
        specs.append((c, b, 'sounding', sid))
    if multi:
        s0 = scene.sources[0]
        specs.append((s0.class_id, s0.size_bin, 'sounding', 0))
    while len(specs) < n_vis:
        s = scene.sources[int(rng.integers(n_src))]
        free = [x for x in range(n_bins)
                if all((sp[0], sp[1]) != (s.class_id, x) for sp in specs)]
        if free and rng.random() < cfg['p_lookalike']:
            specs.append((s.class_id, int(rng.choice(free)), 'lookalike', -1))
        else:
            specs.append((classes.pop(), int(rng.integers(n_bins)),
                          'distractor', -1))
    visible_classes = {sp[0] for sp in specs}
    if rng.random() < cfg['p_offscreen']:
        c = int(rng.choice([c for c in range(n_cls)
                            if c not in visible_classes]))
        act = [bool(a) for a in rng.random(T) < cfg['p_offscreen_active']]
        scene.sources.append(Source(n_src, c, int(rng.integers(n_bins)), [],
                                    act, _gain(rng)))
    for k in range(T):
        if rng.random() < cfg['p_empty']:
            continue
        while True:
            act = rng.random(n_src) < cfg['p_active']
            if act.any():
                break
        for sid in range(n_src):
            scene.sources[sid].active[k] = bool(act[sid])
    _finish(rng, scene, specs)


def sample_scene(seed: int, preset: str, split: str, index: int,
                 size: int = 224, frames: int = 5) -> ClipScene:
    """Sample the scene of clip ``index`` of ``split`` (deterministic).

    Args:
        seed (int): Data set seed.
        preset (str): 's4', 'ms3' or 'avss'.
        split (str): 'train', 'val' or 'test'.
        index (int): Clip index within the split.
        size (int): Frame side in pixels.
        frames (int): Frames per clip (AVSS v2 clips get ``2 * frames``).
    """
    if preset not in PRESETS:
        raise ValueError(f'unknown preset {preset!r}; expected {PRESETS}')
    if split not in SPLITS:
        raise ValueError(f'unknown split {split!r}; expected {SPLITS}')
    clip_id, subset, n = clip_identity(preset, split, index, frames)
    rng = clip_rngs(seed, preset, split, index)[0]
    scene = ClipScene(preset, split, index, clip_id, subset, n, size)
    if preset == 's4' or subset == 'v1s':
        _sample_single(rng, scene)
    else:
        _sample_multi(rng, scene)
    return scene
