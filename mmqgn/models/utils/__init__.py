from .dist_utils import all_gather_varlen
from .misc import empty_boxes, global_pool, is_query_sample

__all__ = [
    'all_gather_varlen', 'empty_boxes', 'global_pool', 'is_query_sample'
]
