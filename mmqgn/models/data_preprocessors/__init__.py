from .pair_data_preprocessor import (PairDataPreprocessor, pair_batch,
                                     plain_batch, split_pairs)

__all__ = ['PairDataPreprocessor', 'pair_batch', 'plain_batch', 'split_pairs']
