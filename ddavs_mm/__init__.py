"""DDAVS-MM: Disentangled audio semantics and delayed bidirectional alignment
for audio-visual segmentation, as an MMSegmentation 1.x plugin.

Importing the package makes mmseg importable under ``mmcv-lite`` (see
:mod:`ddavs_mm.utils.mmcv_compat`), allows MMEngine's own checkpoint types
under ``torch.load(weights_only=True)``, makes MMEngine's checkpoint
loaders pass ``weights_only=True`` (see
:mod:`ddavs_mm.utils.checkpoint_safety`) and registers every DDAVS component
in the ``ddavs_mm`` scope.
"""
from .utils.mmcv_compat import install_mmcv_ext_stub

install_mmcv_ext_stub()

from .utils.checkpoint_safety import (  # noqa: E402
    allow_mmengine_checkpoint_types, use_weights_only_loaders)

allow_mmengine_checkpoint_types()
use_weights_only_loaders()

from . import (datasets, engine, evaluation, models,  # noqa: E402,F401
               structures)
from .registry import SCOPE  # noqa: E402
from .utils.setup_env import register_all_modules  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'register_all_modules', 'SCOPE']
