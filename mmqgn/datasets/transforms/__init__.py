from .formatting import PackPersonSearchInputs
from .loading import LoadPersonSearchAnnotations

__all__ = ['LoadPersonSearchAnnotations', 'PackPersonSearchInputs']
