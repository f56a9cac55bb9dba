"""Every JSON mmqgn reads: a truncated or malformed file gives an error that
names the file, the problem and what to do (issue 15 defect 7), through each
reader: the dataset, the evaluation's annotation index and retrieval sets,
the offline evaluator's results files and set discovery."""
import importlib.util
import json
import os.path as osp
import re
import shutil

import pytest

from mmqgn.datasets import PersonSearchDataset
from mmqgn.evaluation.functional import (PersonSearchAnnotations,
                                         RetrievalSet, load_retrieval_sets)
from mmqgn.utils.json_io import JSONFileError, load_json

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools',
                'eval_person_search.py')
CUT = r'cannot read JSON: .* the file is truncated'


def _truncated(src, dst, keep=0.5):
    """A copy of ``src`` cut after ``keep`` of its bytes."""
    with open(src, 'rb') as f:
        data = f.read()
    with open(dst, 'wb') as f:
        f.write(data[:int(len(data) * keep)])
    return str(dst)


def _message(excinfo):
    return str(excinfo.value)


def test_load_json_reads_valid_files(tmp_path):
    path = tmp_path / 'ok.json'
    path.write_text(json.dumps({'a': [1, 2]}))
    assert load_json(str(path)) == {'a': [1, 2]}


@pytest.mark.parametrize('content,problem', [
    ('{"images": [{"id": 0, "file_', CUT),
    ('', 'the file is empty'),
    ('{"a": 1,, "b": 2}', 'not valid JSON'),
])
def test_load_json_names_file_problem_and_fix(tmp_path, content, problem):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(JSONFileError) as excinfo:
        load_json(str(path), 're-run the converter')
    msg = _message(excinfo)
    assert msg.startswith(f'{path}: cannot read JSON: ')
    assert re.search(problem, msg), msg
    assert msg.endswith('; re-run the converter.')
    assert isinstance(excinfo.value, ValueError)
    assert isinstance(excinfo.value.__cause__, json.JSONDecodeError)


def test_load_json_position_and_size(tmp_path):
    path = tmp_path / 'cut.json'
    path.write_text('[1, 2, ')  # 7 characters, ends mid-list
    with pytest.raises(JSONFileError,
                       match=r'line 1 column 8 \(character 7 of 7\)'):
        load_json(str(path))


def test_load_json_binary_and_missing(tmp_path):
    path = tmp_path / 'binary.json'
    path.write_bytes(b'\xff\xfe\x00garbage')
    with pytest.raises(JSONFileError, match='binary.json: .*not UTF-8'):
        load_json(str(path))
    with pytest.raises(FileNotFoundError, match='missing.json'):
        load_json(str(tmp_path / 'missing.json'))


def _cuhk(synthetic_root, tmp_path):
    """A copy of the synthetic CUHK-SYSU annotations and retrieval sets."""
    root = tmp_path / 'CUHK-SYSU'
    for sub in ('annotations', 'retrieval'):
        shutil.copytree(synthetic_root / 'CUHK-SYSU' / sub, root / sub)
    return root


def test_dataset_with_truncated_annotation_file(synthetic_root, tmp_path):
    root = _cuhk(synthetic_root, tmp_path)
    ann = _truncated(root / 'annotations' / 'test.json',
                     root / 'annotations' / 'test.json')
    ds = PersonSearchDataset(
        data_root=str(root), ann_file='annotations/test.json',
        pipeline=[], test_mode=True, lazy_init=True)
    with pytest.raises(JSONFileError) as excinfo:
        ds.full_init()
    msg = _message(excinfo)
    assert msg.startswith(f'{ann}: cannot read JSON')
    assert 'truncated' in msg and 'tools/dataset_converters' in msg


def test_evaluation_readers_with_truncated_files(synthetic_root, tmp_path):
    root = _cuhk(synthetic_root, tmp_path)
    ann_file = str(root / 'annotations' / 'test.json')
    anns = PersonSearchAnnotations(ann_file)  # the intact file
    cut_ann = _truncated(ann_file, tmp_path / 'test_cut.json')
    with pytest.raises(JSONFileError,
                       match=re.escape(cut_ann) + f': {CUT}'):
        PersonSearchAnnotations(cut_ann)
    g50 = _truncated(root / 'retrieval' / 'G50.json',
                     root / 'retrieval' / 'G50.json', keep=0.3)
    with pytest.raises(JSONFileError,
                       match=re.escape(g50) + f': {CUT}.*converter'):
        RetrievalSet(g50, anns)
    with pytest.raises(JSONFileError, match=re.escape(g50) + f': {CUT}'):
        load_retrieval_sets(['G50'], anns, ann_file)  # by name


def _tool():
    spec = importlib.util.spec_from_file_location('eval_person_search', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_offline_evaluator_with_truncated_files(synthetic_root, tmp_path):
    tool = _tool()
    results = tmp_path / 'results.json'
    results.write_text('{"gallery": {"0": {"bboxes": [[1, 2, 3')
    with pytest.raises(JSONFileError) as excinfo:
        tool.load_results(str(results), tool.F, 0.5)
    msg = _message(excinfo)
    assert msg.startswith(f'{results}: cannot read JSON')
    assert 'tools/test.py' in msg and 'results_file' in msg
    # set discovery reads every retrieval JSON of an unknown dataset
    sets = tmp_path / 'retrieval'
    sets.mkdir()
    (sets / 'mine.json').write_text('{"name": "mine", "ann_file": "te')
    with pytest.raises(JSONFileError, match=f'mine.json: {CUT}'):
        tool.default_sets(str(sets), 'test.json', 'other')
