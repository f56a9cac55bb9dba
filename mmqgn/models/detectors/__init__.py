from .base import PersonSearchDetector
from .oim import OIM
from .qgn import QGN
from .qgn_search import QGNSearchMixin, distinct_scenes
from .query_guided import QueryGuidedDetector, pair_forward
from .seqnext import SeqNeXt

__all__ = [
    'PersonSearchDetector', 'OIM', 'QGN', 'SeqNeXt', 'QueryGuidedDetector',
    'QGNSearchMixin', 'distinct_scenes', 'pair_forward'
]
