"""Class catalogue of the synthetic AVS data set.

Every class has a visual signature (shape, colour, texture) and an acoustic
one (a sound recipe, :class:`SoundSpec`). The acoustic signature of an
*instance* also depends on its size bin (see :func:`size_factor`): smaller
objects sound higher and faster, so two look-alike instances of one class in
different size bins are told apart by the audio alone.
"""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Tuple

#: Size bins as (name, lower, upper) fractions of the image side. An object
#: of side ``s`` (bounding-box side / image side) is in bin ``b`` when
#: ``lower <= s < upper``.
SIZE_BINS: Tuple[Tuple[str, float, float], ...] = (
    ('large', 0.24, 0.40),
    ('medium', 0.14, 0.24),
    ('small', 0.06, 0.14),
)

#: Ratio between the acoustic parameters of neighbouring size bins.
SIZE_RATIO = 1.25


def size_factor(size_bin: int) -> float:
    """Multiplier applied to every frequency and rate of a class's sound.

    Args:
        size_bin (int): 0 = large, 1 = medium, 2 = small.

    Returns:
        float: ``SIZE_RATIO ** size_bin`` (1.0, 1.25, 1.5625).
    """
    if size_bin not in range(len(SIZE_BINS)):
        raise ValueError(f'size_bin must be in 0..{len(SIZE_BINS) - 1}, '
                         f'got {size_bin}')
    return SIZE_RATIO**size_bin


def size_bin_of(size_frac: float) -> int:
    """Size bin of an object whose side is ``size_frac`` of the image side."""
    for b, (_, lo, hi) in enumerate(SIZE_BINS):
        if lo <= size_frac < hi or (b == 0 and size_frac == hi):
            return b
    raise ValueError(f'object size {size_frac} is outside every size bin')


@dataclass(frozen=True)
class SoundSpec:
    """Recipe of a class sound (before the size-bin factor).

    Attributes:
        kind (str): 'harmonic' (sum of harmonics of ``f0`` with amplitudes
            ``profile`` and optional vibrato), 'noise' (noise band
            ``[lo, hi]`` amplitude-modulated at ``rate``), 'pulse' (decaying
            bursts of a ``f0`` carrier, ``rate`` per second, decay ``decay``
            1/s) or 'chirp' (linear up-sweeps ``lo -> hi``, ``rate`` per
            second).
    """
    kind: str
    f0: float = 0.0
    profile: Tuple[float, ...] = ()
    lo: float = 0.0
    hi: float = 0.0
    rate: float = 0.0
    decay: float = 0.0
    vibrato_hz: float = 0.0
    vibrato_depth: float = 0.0


@dataclass(frozen=True)
class SyntheticClass:
    """One class: name, visual and acoustic signature."""
    name: str
    shape: str
    colour: Tuple[int, int, int]  # RGB
    texture: str
    sound: SoundSpec
    extra: Dict = field(default_factory=dict)

    def to_dict(self) -> Dict:
        d = asdict(self)
        d['sound'] = {k: v for k, v in asdict(self.sound).items() if v}
        d['sound']['kind'] = self.sound.kind
        d.pop('extra')
        return d


def _saw(n: int) -> Tuple[float, ...]:
    return tuple(round(1.0 / h, 4) for h in range(1, n + 1))


#: The ten classes. Names contain no underscore (AVSS ``a_obj`` joins names
#: with '_').
CLASSES: Tuple[SyntheticClass, ...] = (
    SyntheticClass('bell', 'circle', (235, 195, 40), 'solid',
                   SoundSpec('harmonic', f0=523.0,
                             profile=(1, 0, .6, 0, .35, 0, .2))),
    SyntheticClass('drum', 'square', (205, 40, 40), 'checker',
                   SoundSpec('pulse', f0=110.0, rate=3.0, decay=18.0)),
    SyntheticClass('siren', 'triangle', (40, 80, 225), 'hstripes',
                   SoundSpec('chirp', lo=500.0, hi=1100.0, rate=1.5)),
    SyntheticClass('flute', 'diamond', (40, 175, 70), 'dots',
                   SoundSpec('harmonic', f0=784.0, profile=(1, .3, .1),
                             vibrato_hz=5.0, vibrato_depth=0.01)),
    SyntheticClass('engine', 'hexagon', (125, 125, 140), 'dstripes',
                   SoundSpec('harmonic', f0=80.0, profile=_saw(24))),
    SyntheticClass('rain', 'star', (60, 205, 215), 'dots',
                   SoundSpec('noise', lo=2500.0, hi=5500.0, rate=0.0)),
    SyntheticClass('clock', 'cross', (205, 60, 205), 'solid',
                   SoundSpec('pulse', f0=1800.0, rate=6.0, decay=150.0)),
    SyntheticClass('bird', 'pentagon', (250, 150, 185), 'vstripes',
                   SoundSpec('chirp', lo=2200.0, hi=3600.0, rate=6.0)),
    SyntheticClass('violin', 'ellipse', (145, 85, 30), 'checker',
                   SoundSpec('harmonic', f0=294.0, profile=_saw(12),
                             vibrato_hz=6.0, vibrato_depth=0.015)),
    SyntheticClass('wind', 'halfdisc', (240, 240, 240), 'hstripes',
                   SoundSpec('noise', lo=300.0, hi=900.0, rate=0.7)),
)

CLASS_NAMES: Tuple[str, ...] = tuple(c.name for c in CLASSES)


def catalogue_dict() -> List[Dict]:
    """The catalogue as JSON-ready dicts (``id`` = index, 0-based)."""
    out = []
    for i, c in enumerate(CLASSES):
        d = c.to_dict()
        d['id'] = i
        d['semantic_id'] = i + 1  # AVSS: background = 0
        out.append(d)
    return out
