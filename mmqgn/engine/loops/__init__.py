from .query_major_loop import PipelineCache, QueryMajorTestLoop
from .query_set import PairBatchLoader, QuerySetData, expanded_pairs
from .resume import ResumeFile, read_resume_file

__all__ = [
    'QueryMajorTestLoop', 'PairBatchLoader', 'PipelineCache', 'QuerySetData',
    'expanded_pairs', 'ResumeFile', 'read_resume_file'
]
