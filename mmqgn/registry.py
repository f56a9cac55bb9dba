"""mmqgn registries.

Children of MMDetection's registries (which are children of MMEngine's root
registries). mmyolo and mmpretrain make theirs children of MMEngine's
directly, so their configs must write ``type='mmdet.ResNet'``; here, every
config with ``default_scope='mmqgn'`` names mmqgn, MMDetection and MMEngine
modules without a prefix (``type='ResNet'``, ``type='DetLocalVisualizer'``),
found through the parents.

MMEngine's ``Registry.get`` imports the ``locations`` of the registry it is
called on only, and then reads the ancestors' tables as they are. A child of
MMDetection's registry would therefore miss every mmdet module that nothing
has imported yet (``DetLocalVisualizer`` under MMDetection's own
``tools/train.py``, which calls no ``register_all_modules``).
:class:`MMQGNRegistry` imports its ancestors' locations first, so that
``custom_imports=dict(imports=['mmqgn'])`` is all a config needs.
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


class MMQGNRegistry(Registry):
    """A :class:`~mmengine.registry.Registry` whose lazy import also imports
    the ``locations`` of its parent and further ancestors (MMDetection's
    ``mmdet.models``, ``mmdet.visualization``, ...), before its own."""

    def import_from_location(self) -> None:
        parent = self.parent
        while parent is not None:
            parent.import_from_location()
            parent = parent.parent
        super().import_from_location()


RUNNERS = MMQGNRegistry('runner', parent=MMDET_RUNNERS)
RUNNER_CONSTRUCTORS = MMQGNRegistry(
    'runner constructor', parent=MMDET_RUNNER_CONSTRUCTORS)
LOOPS = MMQGNRegistry(
    'loop', parent=MMDET_LOOPS, locations=['mmqgn.engine'])
HOOKS = MMQGNRegistry(
    'hook', parent=MMDET_HOOKS, locations=['mmqgn.engine'])

DATASETS = MMQGNRegistry(
    'dataset', parent=MMDET_DATASETS, locations=['mmqgn.datasets'])
DATA_SAMPLERS = MMQGNRegistry(
    'data sampler', parent=MMDET_DATA_SAMPLERS,
    locations=['mmqgn.datasets'])
TRANSFORMS = MMQGNRegistry(
    'transform', parent=MMDET_TRANSFORMS,
    locations=['mmqgn.datasets.transforms'])

MODELS = MMQGNRegistry(
    'model', parent=MMDET_MODELS, locations=['mmqgn.models'])
MODEL_WRAPPERS = MMQGNRegistry(
    'model_wrapper', parent=MMDET_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = MMQGNRegistry(
    'weight initializer', parent=MMDET_WEIGHT_INITIALIZERS)
TASK_UTILS = MMQGNRegistry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmqgn.models'])

OPTIMIZERS = MMQGNRegistry('optimizer', parent=MMDET_OPTIMIZERS)
OPTIM_WRAPPERS = MMQGNRegistry(
    'optim_wrapper', parent=MMDET_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = MMQGNRegistry(
    'optimizer constructor', parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = MMQGNRegistry(
    'parameter scheduler', parent=MMDET_PARAM_SCHEDULERS)

METRICS = MMQGNRegistry(
    'metric', parent=MMDET_METRICS, locations=['mmqgn.evaluation'])
EVALUATOR = MMQGNRegistry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmqgn.evaluation'])

VISUALIZERS = MMQGNRegistry('visualizer', parent=MMDET_VISUALIZERS)
VISBACKENDS = MMQGNRegistry('vis_backend', parent=MMDET_VISBACKENDS)
LOG_PROCESSORS = MMQGNRegistry(
    'log_processor', parent=MMDET_LOG_PROCESSORS)
