"""The one JSON reader of mmqgn: a bad file gives an error naming it.

Annotation files, retrieval sets and results files are large JSONs written by
the converters and by ``tools/test.py``; a run cut short leaves them
truncated. ``json.load`` then ends in a bare ``JSONDecodeError`` that names
neither the file nor what to do; :func:`load_json` says both. Standard
library only (the evaluation functions need no torch).
"""
import json
import os
import os.path as osp
from typing import Any, Optional

#: the advice when the caller gives none
DEFAULT_FIX = 're-create it with the tool that wrote it'
#: for annotation files and retrieval sets
CONVERTER_FIX = ('re-run the dataset converter (tools/dataset_converters/'
                 'cuhk_sysu.py or prw.py) to write it again')
#: for results files dumped by a test run
RESULTS_FIX = ('dump it again: tools/test.py CONFIG CHECKPOINT '
               '--cfg-options test_evaluator.results_file=FILE')


class JSONFileError(ValueError):
    """A JSON file that cannot be read; the message names the file, the
    problem and what to do."""


def load_json(path: str, fix: Optional[str] = None) -> Any:
    """Parse the JSON file ``path``.

    Args:
        path (str): a local file.
        fix (str, optional): what the user should do about a truncated or
            malformed file, e.g. ``'re-run the dataset converter'``.

    Raises:
        FileNotFoundError: ``path`` does not exist (``open``'s own error).
        JSONFileError: the file is empty, truncated, not JSON or not UTF-8.
    """
    path = os.fspath(path)
    fix = fix or DEFAULT_FIX
    with open(path, 'r', encoding='utf-8') as f:  # FileNotFoundError
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            size = osp.getsize(path)
            problem = 'the file is empty' if size == 0 else (
                f'{err.msg} at line {err.lineno} column {err.colno} '
                f'(character {err.pos} of {size}): the file is truncated '
                '(an interrupted write or copy?) or not valid JSON')
            raise JSONFileError(
                f'{path}: cannot read JSON: {problem}; {fix}.') from err
        except UnicodeDecodeError as err:
            raise JSONFileError(f'{path}: cannot read JSON: not UTF-8 text '
                                f'(byte {err.start}); {fix}.') from err
