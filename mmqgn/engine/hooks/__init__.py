from .gfn_init_hook import GFNHeadsFromDetectorHook
from .rng_state_hook import RNGStateHook

__all__ = ['GFNHeadsFromDetectorHook', 'RNGStateHook']
