from .autocast_optim_wrapper import AutocastOptimWrapper
from .merged_param_groups_constructor import (MergedParamGroupsConstructor,
                                              merge_param_groups)

__all__ = [
    'AutocastOptimWrapper', 'MergedParamGroupsConstructor',
    'merge_param_groups'
]
