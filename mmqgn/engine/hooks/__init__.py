from .gfn_init_hook import GFNHeadsFromDetectorHook
from .pair_resample_hook import PairResampleHook
from .rng_state_hook import RNGStateHook

__all__ = ['GFNHeadsFromDetectorHook', 'PairResampleHook', 'RNGStateHook']
