"""Resume files of :class:`QueryMajorTestLoop`: every finished query's
records (CPU numpy) appended as one pickle record, so that an interrupted
test run replays the finished queries instead of running them again."""
import glob
import os.path as osp
import pickle
from typing import Dict, List, Optional

from mmengine.dist import get_rank, get_world_size


class ResumeFile:
    """The resume file(s) of one test run.

    This rank appends to ``path`` (``<path>.rank<r>`` when distributed);
    :meth:`load` reads every file of any earlier world size. Each record
    stores the ``settings`` its samples depend on (e.g. the GFN threshold):
    a record written with other settings is refused.

    Args:
        path (str, optional): None disables resuming.
        settings (dict): settings of this run.
    """

    def __init__(self, path: Optional[str], settings: dict) -> None:
        self.path = path
        self.settings = settings

    @property
    def my_path(self) -> str:
        """The file this rank appends to."""
        if get_world_size() == 1:
            return self.path
        return f'{self.path}.rank{get_rank()}'

    def load(self) -> Dict[int, List[dict]]:
        """Query ann id -> stored samples, from every resume file. A
        truncated tail of this rank's file (a crash while writing) is cut
        off."""
        if self.path is None:
            return {}
        done: Dict[int, List[dict]] = {}
        paths = [self.path] + sorted(
            glob.glob(glob.escape(self.path) + '.rank*'))
        for path in paths:
            if osp.isfile(path):
                good = _read_records(path, done, self.settings)
                if path == self.my_path:
                    with open(path, 'r+b') as f:
                        f.truncate(good)
        return done

    def append(self, query_ann_id: int, samples: List[dict]) -> None:
        """Store one finished query's samples."""
        if self.path is None:
            return
        with open(self.my_path, 'ab') as f:
            pickle.dump(dict(query_ann_id=int(query_ann_id),
                             samples=samples,
                             settings=self.settings),
                        f,
                        protocol=pickle.HIGHEST_PROTOCOL)


def _read_records(path: str,
                  done: dict,
                  settings: Optional[dict] = None) -> int:
    """Add the records of a resume file to ``done`` (first one of a query
    wins); returns the byte length of its readable part. With ``settings``,
    a record written with other settings raises ``ValueError``."""
    good = 0
    with open(path, 'rb') as f:
        while True:
            try:
                rec = pickle.load(f)
            except (EOFError, pickle.UnpicklingError, ValueError,
                    AttributeError):
                break
            if not isinstance(rec, dict) or 'query_ann_id' not in rec:
                raise ValueError(
                    f'resume file {path} holds a {type(rec).__name__} '
                    'record, not a query-major loop record: remove it or '
                    'point resume_file elsewhere')
            stored = rec.get('settings', {})
            if settings is not None and stored != settings:
                raise ValueError(
                    f'resume file {path} was written with {stored}, this run '
                    f'uses {settings}: remove it or restore the settings')
            done.setdefault(int(rec['query_ann_id']), rec['samples'])
            good = f.tell()
    return good


def read_resume_file(path: str) -> Dict[int, List[dict]]:
    """Query ann id -> stored samples of one resume file."""
    done: Dict[int, List[dict]] = {}
    _read_records(path, done)
    return done
