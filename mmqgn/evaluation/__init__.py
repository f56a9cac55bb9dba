"""mmqgn evaluation.

``mmqgn.evaluation.functional`` is pure numpy and importable anywhere. The
metric classes need mmengine + mmdet (the registry); they are imported here
when those are installed (the registry locates ``mmqgn.evaluation``), and
skipped without error when mmdet / torch / mmcv are missing so that the
functional core stays usable in a light environment.
"""
from . import functional  # noqa: F401
from .functional import (calibrate_gfn_threshold, evaluate_person_search,
                         gfn_negative_filtered)

__all__ = ['functional', 'evaluate_person_search', 'calibrate_gfn_threshold',
           'gfn_negative_filtered']

try:
    from .metrics import PersonSearchMetric  # noqa: F401
except ModuleNotFoundError as e:  # pragma: no cover - light environment
    if (e.name or '').split('.')[0] not in ('mmdet', 'torch', 'mmcv',
                                            'mmengine', 'mmpretrain'):
        raise
else:
    __all__.append('PersonSearchMetric')
