from .mmcv_compat import (MissingCompiledOpError, has_compiled_mmcv_ops,
                          install_mmcv_ext_stub)
from .setup_env import register_all_modules

__all__ = [
    'MissingCompiledOpError', 'has_compiled_mmcv_ops', 'install_mmcv_ext_stub',
    'register_all_modules'
]
