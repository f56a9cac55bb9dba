from .person_search_roi_head import PersonSearchRoIHead
from .shared_heads import ResLayerC5

__all__ = ['PersonSearchRoIHead', 'ResLayerC5']
