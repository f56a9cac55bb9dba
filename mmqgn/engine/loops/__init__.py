from .query_major_loop import (PipelineCache, QueryMajorTestLoop,
                               compact_sample, expanded_pairs, pair_batch,
                               read_resume_file)

__all__ = [
    'QueryMajorTestLoop', 'PipelineCache', 'pair_batch', 'compact_sample',
    'expanded_pairs', 'read_resume_file'
]
