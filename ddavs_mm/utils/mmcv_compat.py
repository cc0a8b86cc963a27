"""The one place where DDAVS-MM makes mmseg importable with ``mmcv-lite``.

MMSegmentation 1.x imports a few compiled mmcv operators at module level
(focal loss, ``point_sample``, ``mask_classification``, SAN head), so
``import mmseg.models`` fails with ``mmcv-lite`` (pure Python) on
``mmcv._ext`` even though DDAVS itself needs no compiled operator.

:func:`install_mmcv_ext_stub` registers a stand-in ``mmcv._ext`` module *only
when the real one is missing*. Its attributes exist (so mmcv's
``ext_loader.load_ext`` assertions pass) but each raises
:class:`MissingCompiledOpError` when called, naming the operator and what to
install. With a full mmcv build the stub is never installed.
"""
import importlib
import importlib.machinery
import sys
import types

INSTALL_HINT = (
    'DDAVS-MM installs `mmcv-lite` (pure Python, no compiled operators). '
    'Install full mmcv to use this operator, e.g. '
    '`pip uninstall -y mmcv-lite && MMCV_WITH_OPS=1 pip install '
    '--no-build-isolation "setuptools<70" wheel mmcv==2.1.0` '
    '(compiles from source, about 22 minutes on 2 cores). '
    'See docs/install.md.')


class MissingCompiledOpError(RuntimeError):
    """Raised when a compiled mmcv operator is called under ``mmcv-lite``."""


def _make_missing_op(name: str):

    def missing_op(*args, **kwargs):
        raise MissingCompiledOpError(
            f'mmcv compiled operator `{name}` is not available. ' +
            INSTALL_HINT)

    missing_op.__name__ = name
    return missing_op


class _MissingExtModule(types.ModuleType):
    """Stand-in for ``mmcv._ext``: every attribute is a failing operator."""

    is_ddavs_stub = True

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        op = _make_missing_op(name)
        setattr(self, name, op)
        return op


def has_compiled_mmcv_ops() -> bool:
    """Whether the real compiled ``mmcv._ext`` is importable."""
    ext = sys.modules.get('mmcv._ext')
    if ext is not None:
        return not getattr(ext, 'is_ddavs_stub', False)
    try:
        importlib.import_module('mmcv._ext')
    except ImportError:
        return False
    return True


def install_mmcv_ext_stub() -> bool:
    """Register the failing ``mmcv._ext`` stand-in if the real one is absent.

    Returns:
        bool: True if the stub was installed (now or earlier), False if the
        real compiled extension is available.
    """
    if has_compiled_mmcv_ops():
        return False
    if 'mmcv._ext' not in sys.modules:
        import mmcv
        stub = _MissingExtModule('mmcv._ext')
        # A spec without a loader: importlib/pkgutil treat it as a module
        # that exists, and mmengine's ``mmcv_full_available()`` (which asks
        # for a loader) correctly answers False.
        stub.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
        sys.modules['mmcv._ext'] = stub
        mmcv._ext = stub
    return True
