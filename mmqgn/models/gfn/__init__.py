"""Gallery Filter Network of SeqNeXt (gfn_seqnext.md §3)."""
from .gallery_filter import GalleryFilterNetwork, valid_feature_sizes
from .pairs import (person_scene_pairs, scene_membership, scene_overlap,
                    scene_scene_pairs)
from .scene_lut import SceneLookupTable

__all__ = [
    'GalleryFilterNetwork', 'SceneLookupTable', 'valid_feature_sizes',
    'person_scene_pairs', 'scene_membership', 'scene_overlap',
    'scene_scene_pairs'
]
