"""Person-search models: OIM loss, heads and detectors."""
from .detectors import OIM
from .losses import OIMLoss
from .reid_heads import PersonEmbeddingHead
from .roi_heads import PersonSearchRoIHead, ResLayerC5
from .utils import all_gather_varlen, empty_boxes, global_pool, is_query_sample

__all__ = [
    'OIM', 'OIMLoss', 'PersonEmbeddingHead', 'PersonSearchRoIHead',
    'ResLayerC5', 'all_gather_varlen', 'empty_boxes', 'global_pool',
    'is_query_sample'
]
