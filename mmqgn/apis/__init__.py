"""High-level person-search inference: build a searcher, embed a query,
detect the people of gallery images and rank them against the query
(embedding-form and query-guided models, two-phase GFN search)."""
from .inference import (FROM_CONFIG, SearchMatch, config_gfn_thr,
                        detect_persons, extract_gfn_query,
                        extract_scene_embeddings, extract_query, has_gfn,
                        init_searcher, is_query_guided, search)
from .loading import SearchInputError, build_test_pipeline, check_query_box

__all__ = [
    'FROM_CONFIG', 'SearchInputError', 'SearchMatch', 'build_test_pipeline',
    'check_query_box', 'config_gfn_thr', 'detect_persons',
    'extract_gfn_query', 'extract_scene_embeddings', 'extract_query',
    'has_gfn', 'init_searcher', 'is_query_guided', 'search'
]
