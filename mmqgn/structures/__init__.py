"""Data structures shared by the datasets, the evaluation and the engine.

As ``mmdet.structures`` is for MMDetection: the layers above
(:mod:`mmqgn.datasets`, :mod:`mmqgn.evaluation`, :mod:`mmqgn.engine`) import
from here and never from each other for these types.

- :mod:`.retrieval_set`: the standardized annotations and retrieval sets
  (docs/data_format.md sections 2 and 3).
- :mod:`.records`: per-sample prediction records and the results dict
  (docs/data_format.md section 4).

Pure numpy: nothing here imports torch or an OpenMMLab package.
"""
from .records import (DET_SCORE_SOURCES, PAIR_PRED_KEYS, RECORD_KINDS,
                      empty_pair_sample, normalize_results, pair_cut_scores,
                      pair_key, pair_sample, records_to_results,
                      sample_to_record, to_numpy)
from .retrieval_set import (PersonSearchAnnotations, RetrievalSet, load_json,
                            resolve_retrieval_set)

__all__ = [
    'PersonSearchAnnotations', 'RetrievalSet', 'load_json',
    'resolve_retrieval_set', 'RECORD_KINDS', 'to_numpy', 'pair_key',
    'normalize_results', 'sample_to_record', 'records_to_results',
    'DET_SCORE_SOURCES', 'pair_cut_scores', 'PAIR_PRED_KEYS', 'pair_sample',
    'empty_pair_sample'
]
