from .pair_dataset import PersonSearchPairDataset
from .person_search import CUHKSYSUDataset, PersonSearchDataset, PRWDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'PersonSearchDataset', 'CUHKSYSUDataset', 'PRWDataset',
    'PersonSearchPairDataset'
]
