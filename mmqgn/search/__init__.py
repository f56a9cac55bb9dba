"""Person search over a gallery: one searcher (embedding or pair strategy,
two-phase GFN filtering) shared by ``mmqgn.apis``, the demo and
:class:`QueryMajorTestLoop`."""
from .cache import LRUCache
from .gfn import (FROM_CONFIG, gfn_scores, make_scene_filter, resolve_gfn_thr,
                  two_phase_predict, weight_similarities)
from mmqgn.models.data_preprocessors import plain_batch
from .searcher import GalleryImage, Searcher

__all__ = [
    'LRUCache', 'FROM_CONFIG', 'gfn_scores', 'make_scene_filter',
    'resolve_gfn_thr', 'two_phase_predict', 'weight_similarities',
    'GalleryImage', 'Searcher', 'plain_batch'
]
