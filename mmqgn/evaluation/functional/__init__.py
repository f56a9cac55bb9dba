"""Person-search evaluation core (numpy only; no torch / mmdet needed).

The data model it evaluates (annotations, retrieval sets, prediction records,
results dicts) lives in :mod:`mmqgn.structures`; those names are re-exported
here so that ``from mmqgn.evaluation.functional import RetrievalSet`` keeps
working. New code imports them from ``mmqgn.structures``.
"""
from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
                              normalize_results, pair_cut_scores,
                              records_to_results, resolve_retrieval_set,
                              sample_to_record, to_numpy)
from .ap_utils import (average_precision, legacy_iou, legacy_iou_matrix,
                       legacy_iou_np, stable_desc_argsort)
from .api import (evaluate_person_search, format_table, load_retrieval_sets,
                  results_table)
from .det_eval import eval_detection
from .gfn_eval import (calibrate_gfn_threshold, entry_gfn_scores,
                       eval_gfn_set, gfn_negative_filtered, has_gfn,
                       scene_retrieval, score_from_code)
from .predictions import GalleryPredictions, PairPredictions, query_matrix
from .reference import eval_detection_reference, eval_search_reference
from .search_eval import SearchEvalResult, eval_search, greedy_match

__all__ = [
    'average_precision', 'legacy_iou', 'legacy_iou_np', 'legacy_iou_matrix',
    'stable_desc_argsort', 'evaluate_person_search', 'format_table',
    'load_retrieval_sets', 'results_table', 'eval_detection',
    'GalleryPredictions', 'PairPredictions', 'normalize_results',
    'query_matrix', 'to_numpy', 'sample_to_record', 'records_to_results',
    'pair_cut_scores',
    'eval_detection_reference',
    'eval_search_reference', 'PersonSearchAnnotations', 'RetrievalSet',
    'resolve_retrieval_set', 'SearchEvalResult', 'eval_search',
    'greedy_match', 'calibrate_gfn_threshold', 'gfn_negative_filtered',
    'score_from_code', 'scene_retrieval', 'entry_gfn_scores', 'eval_gfn_set',
    'has_gfn'
]
