"""High-level person-search inference: build a searcher, embed a query,
detect the people of gallery images and rank them against the query."""
from .inference import (SearchInputError, SearchMatch, build_test_pipeline,
                        check_query_box, detect_persons, extract_query,
                        init_searcher, search)

__all__ = [
    'SearchInputError', 'SearchMatch', 'build_test_pipeline',
    'check_query_box', 'detect_persons', 'extract_query', 'init_searcher',
    'search'
]
