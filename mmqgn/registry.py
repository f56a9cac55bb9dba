"""mmqgn registries.

Children of MMDetection's registries (which are children of MMEngine's root
registries), as mmyolo does it: a module registered here is found by configs
that use ``default_scope='mmqgn'``, and MMDetection modules stay reachable
through the parent (``type='mmdet.XXX'`` or plain names via the scope chain).
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmengine.registry import Registry

DATASETS = Registry('dataset', parent=MMDET_DATASETS,
                    locations=['mmqgn.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMDET_DATA_SAMPLERS,
                         locations=['mmqgn.datasets'])
TRANSFORMS = Registry('transform', parent=MMDET_TRANSFORMS,
                      locations=['mmqgn.datasets.transforms'])
MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmqgn.models'])
TASK_UTILS = Registry('task util', parent=MMDET_TASK_UTILS,
                      locations=['mmqgn.models'])
METRICS = Registry('metric', parent=MMDET_METRICS,
                   locations=['mmqgn.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMDET_EVALUATOR,
                     locations=['mmqgn.evaluation'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmqgn.engine'])
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmqgn.engine'])
VISUALIZERS = Registry('visualizer', parent=MMDET_VISUALIZERS,
                       locations=['mmqgn.visualization'])
