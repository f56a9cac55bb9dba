"""mmqgn: query-guided person search and few-shot classification for
OpenMMLab (MMEngine / MMDetection 3.x)."""
import mmcv
import mmdet
import mmengine
from mmengine.utils import digit_version

from .utils import register_checkpoint_loader
from .version import __version__

mmcv_minimum_version = '2.1.0'
mmcv_maximum_version = '2.2.0'
mmengine_minimum_version = '0.10.7'
mmengine_maximum_version = '1.0.0'
mmdet_minimum_version = '3.3.0'
mmdet_maximum_version = '3.4.0'


def _check_version(name, current, minimum, maximum):
    ok = digit_version(minimum) <= digit_version(current) < digit_version(
        maximum)
    assert ok, (f'{name}=={current} is used but incompatible with mmqgn; '
                f'please install {name}>={minimum}, <{maximum}.')


_check_version('mmcv', mmcv.__version__, mmcv_minimum_version,
               mmcv_maximum_version)
_check_version('mmengine', mmengine.__version__, mmengine_minimum_version,
               mmengine_maximum_version)
_check_version('mmdet', mmdet.__version__, mmdet_minimum_version,
               mmdet_maximum_version)

# torch>=2.6 loads checkpoints with ``weights_only=True``, which MMEngine
# 0.10.7 Runner checkpoints cannot satisfy (see mmqgn/utils/checkpoint.py).
register_checkpoint_loader()

__all__ = ['__version__']
