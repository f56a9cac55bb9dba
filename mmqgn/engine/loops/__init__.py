from .query_major_loop import (PairBatchLoader, PipelineCache,
                               QueryMajorTestLoop, expanded_pairs)
from .query_set import QuerySetData
from .resume import ResumeFile, read_resume_file

__all__ = [
    'QueryMajorTestLoop', 'PairBatchLoader', 'PipelineCache', 'QuerySetData',
    'expanded_pairs', 'ResumeFile', 'read_resume_file'
]
