"""Person-search models: backbones, heads, losses and detectors."""
from .backbones import QSSEResNet
from .dense_heads import QRPNAssigner, QRPNHead, fuse_rpn_scores
from .detectors import OIM
from .gfn import GalleryFilterNetwork, SceneLookupTable
from .losses import NTXentLoss, OIMLoss
from .reid_heads import PersonEmbeddingHead, QSimNet
from .roi_heads import PersonSearchRoIHead, ResLayerC5
from .utils import all_gather_varlen, empty_boxes, global_pool, is_query_sample

__all__ = [
    'OIM', 'OIMLoss', 'NTXentLoss', 'PersonEmbeddingHead', 'QSimNet',
    'PersonSearchRoIHead', 'ResLayerC5', 'QSSEResNet', 'QRPNAssigner',
    'QRPNHead', 'fuse_rpn_scores', 'GalleryFilterNetwork', 'SceneLookupTable',
    'all_gather_varlen', 'empty_boxes', 'global_pool', 'is_query_sample'
]
