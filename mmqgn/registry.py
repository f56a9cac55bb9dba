"""mmqgn registries.

Children of MMDetection's registries (which are children of MMEngine's root
registries), as mmyolo does it: a module registered here is found by configs
that use ``default_scope='mmqgn'``, and MMDetection / MMEngine modules stay
reachable through the parents.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import \
    RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import \
    WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

RUNNERS = Registry('runner', parent=MMDET_RUNNERS)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMDET_RUNNER_CONSTRUCTORS)
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmqgn.engine'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmqgn.engine'])

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmqgn.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMDET_DATA_SAMPLERS,
    locations=['mmqgn.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMDET_TRANSFORMS,
    locations=['mmqgn.datasets.transforms'])

MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmqgn.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMDET_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMDET_WEIGHT_INITIALIZERS)
TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmqgn.models'])

OPTIMIZERS = Registry('optimizer', parent=MMDET_OPTIMIZERS)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMDET_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer constructor', parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMDET_PARAM_SCHEDULERS)

METRICS = Registry(
    'metric', parent=MMDET_METRICS, locations=['mmqgn.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmqgn.evaluation'])

VISUALIZERS = Registry('visualizer', parent=MMDET_VISUALIZERS)
VISBACKENDS = Registry('vis_backend', parent=MMDET_VISBACKENDS)
LOG_PROCESSORS = Registry('log_processor', parent=MMDET_LOG_PROCESSORS)
