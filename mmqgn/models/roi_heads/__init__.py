from .person_search_roi_head import PersonSearchRoIHead
from .qgn_roi_head import QGNRoIHead
from .seqnext_roi_head import PersonBCELoss, SeqNeXtRoIHead
from .shared_heads import ResLayerC5

__all__ = [
    'PersonSearchRoIHead', 'QGNRoIHead', 'SeqNeXtRoIHead', 'PersonBCELoss',
    'ResLayerC5'
]
