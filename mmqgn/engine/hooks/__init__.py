from .gfn_init_hook import GFNHeadsFromDetectorHook
from .oim_table_hook import OIMTableSizeHook
from .pair_resample_hook import PairResampleHook
from .rng_state_hook import RNGStateHook

__all__ = [
    'GFNHeadsFromDetectorHook', 'OIMTableSizeHook', 'PairResampleHook',
    'RNGStateHook'
]
