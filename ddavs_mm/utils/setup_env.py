"""Registration helpers following mmseg's ``register_all_modules``."""
import datetime
import warnings

from mmengine import DefaultScope

from ..registry import SCOPE


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every DDAVS-MM module so its registries are filled.

    Args:
        init_default_scope (bool): Whether to set the current default scope
            to ``'ddavs_mm'`` so that configs without ``default_scope`` build
            DDAVS parts. Defaults to True.
    """
    import ddavs_mm.datasets  # noqa: F401
    import ddavs_mm.engine  # noqa: F401
    import ddavs_mm.evaluation  # noqa: F401
    import ddavs_mm.models  # noqa: F401
    import ddavs_mm.structures  # noqa: F401
    import ddavs_mm.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created(SCOPE):
        DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
    elif current.scope_name != SCOPE:
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      f'not "{SCOPE}"; creating a new "{SCOPE}" scope.')
        new_name = f'{SCOPE}-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_name, scope_name=SCOPE)
