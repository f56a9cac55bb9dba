from .gfn_wrapper import (GFNDetectorMixin, OIMWithGFN, SeqNeXtWithGFN,
                          gfn_scores, weight_similarities)
from .oim import OIM
from .qgn import QGN, PairDataPreprocessor
from .qgn_gfn import QGNWithGFN
from .seqnext import SeqNeXt

__all__ = [
    'OIM', 'QGN', 'PairDataPreprocessor', 'SeqNeXt', 'GFNDetectorMixin',
    'OIMWithGFN', 'SeqNeXtWithGFN', 'gfn_scores', 'weight_similarities',
    'QGNWithGFN'
]
