from .formatting import PackPersonSearchInputs
from .loading import LoadPersonSearchAnnotations
from .person_crops import (FilterByVisibility, PadToMinSize,
                           RandomFocusedCrop, RandomFocusedCrop2,
                           RandomSafeCrop)

__all__ = [
    'LoadPersonSearchAnnotations', 'PackPersonSearchInputs',
    'FilterByVisibility', 'PadToMinSize', 'RandomFocusedCrop',
    'RandomFocusedCrop2', 'RandomSafeCrop'
]
