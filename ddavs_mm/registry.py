"""OpenMMLab registries of DDAVS-MM.

Every registry is a child of the matching MMSegmentation registry, so a
config with ``default_scope='ddavs_mm'`` builds DDAVS parts by their names and
still finds every mmseg/mmengine part (e.g. ``MixVisionTransformer``,
``AdamW``) through the parent chain.
"""
from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
from mmseg.registry import WEIGHT_INITIALIZERS as MMSEG_WEIGHT_INITIALIZERS

SCOPE = 'ddavs_mm'

MODELS = Registry(
    'model', parent=MMSEG_MODELS, scope=SCOPE, locations=['ddavs_mm.models'])
DATASETS = Registry(
    'dataset',
    parent=MMSEG_DATASETS,
    scope=SCOPE,
    locations=['ddavs_mm.datasets'])
TRANSFORMS = Registry(
    'transform',
    parent=MMSEG_TRANSFORMS,
    scope=SCOPE,
    locations=['ddavs_mm.datasets.transforms'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMSEG_DATA_SAMPLERS,
    scope=SCOPE,
    locations=['ddavs_mm.datasets'])
METRICS = Registry(
    'metric',
    parent=MMSEG_METRICS,
    scope=SCOPE,
    locations=['ddavs_mm.evaluation'])
HOOKS = Registry(
    'hook', parent=MMSEG_HOOKS, scope=SCOPE, locations=['ddavs_mm.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMSEG_OPTIM_WRAPPERS,
    scope=SCOPE,
    locations=['ddavs_mm.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMSEG_PARAM_SCHEDULERS,
    scope=SCOPE,
    locations=['ddavs_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMSEG_OPTIM_WRAPPER_CONSTRUCTORS,
    scope=SCOPE,
    locations=['ddavs_mm.engine'])
VISUALIZERS = Registry(
    'visualizer',
    parent=MMSEG_VISUALIZERS,
    scope=SCOPE,
    locations=['ddavs_mm.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMSEG_VISBACKENDS,
    scope=SCOPE,
    locations=['ddavs_mm.visualization'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMSEG_WEIGHT_INITIALIZERS,
    scope=SCOPE,
    locations=['ddavs_mm.engine'])
