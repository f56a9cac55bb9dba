"""Person-search models: backbones, heads, losses and detectors."""
from .backbones import ConvNeXtC4, ConvNeXtC5Head, QSSEResNet
from .dense_heads import QRPNAssigner, QRPNHead, fuse_rpn_scores
from .data_preprocessors import PairDataPreprocessor, pair_batch, split_pairs
from .detectors import (OIM, QGN, PersonSearchDetector, QueryGuidedDetector,
                        SeqNeXt)
from .gfn import GalleryFilterNetwork, SceneLookupTable
from .losses import NTXentLoss, OIMLoss
from .reid_heads import (BaseEmbeddingHead, PersonEmbeddingHead,
                         PGAEmbeddingHead, PrototypeGuidedAttention, QSimNet)
from .roi_heads import (PersonBCELoss, PersonSearchRoIHead, QGNRoIHead,
                        ResLayerC5, SeqNeXtRoIHead)
from .utils import all_gather_varlen, empty_boxes, global_pool, is_query_sample

__all__ = [
    'OIM', 'QGN', 'SeqNeXt', 'PersonSearchDetector', 'QueryGuidedDetector',
    'PairDataPreprocessor', 'pair_batch', 'split_pairs', 'ConvNeXtC4',
    'ConvNeXtC5Head', 'QGNRoIHead', 'SeqNeXtRoIHead', 'PersonBCELoss',
    'OIMLoss', 'NTXentLoss', 'PersonEmbeddingHead', 'QSimNet',
    'BaseEmbeddingHead', 'PGAEmbeddingHead', 'PrototypeGuidedAttention',
    'PersonSearchRoIHead', 'ResLayerC5', 'QSSEResNet', 'QRPNAssigner',
    'QRPNHead', 'fuse_rpn_scores', 'GalleryFilterNetwork', 'SceneLookupTable',
    'all_gather_varlen', 'empty_boxes', 'global_pool', 'is_query_sample'
]
