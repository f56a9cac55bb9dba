from .oim import OIM
from .qgn import QGN, PairDataPreprocessor
from .seqnext import SeqNeXt

__all__ = ['OIM', 'QGN', 'PairDataPreprocessor', 'SeqNeXt']
