"""Two-phase GFN filtering in QueryMajorTestLoop (gfn_seqnext.md §3.1,
§8.1 decision 3) with a tiny random QGNWithGFN on the synthetic CUHK-SYSU,
retrieval set G50 (6 queries x 15 gallery images)."""
import collections
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmqgn.engine.loops.query_major_loop as qml
from mmqgn.models.detectors import QGN
from mmqgn.registry import LOOPS
from mmqgn.utils import register_all_modules
from test_query_major_loop import _cfg as query_major_cfg
from test_query_major_loop import build_runner

torch.set_num_threads(1)
register_all_modules(init_default_scope=False)
ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs/qgn/qgn_gfn_tiny_synthetic.py')
SET = 'G50'
GFN_KEYS = ('gfn_score', 'gfn_skipped')


def _cfg(data_root, work_dir) -> Config:
    cfg = query_major_cfg(data_root, work_dir, CONFIG, 'query_major_gfn')
    cfg.model.gfn.pool_size = 7
    return cfg


@pytest.fixture(scope='module')
def runner(synthetic_root, tmp_path_factory):
    return build_runner(
        _cfg(synthetic_root / 'CUHK-SYSU', tmp_path_factory.mktemp('qmg')))


class Recorder:
    """Wraps the evaluator; keeps every processed sample."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.samples = []

    def process(self, data_samples, data_batch=None):
        self.samples += list(data_samples)

    def evaluate(self, size):
        self.size = size
        return {}


class Counting:
    """Counts the calls of a model method (and keeps their first args)."""

    def __init__(self, fn):
        self.fn, self.args = fn, []

    def __call__(self, *args, **kwargs):
        self.args.append(args[0] if args else None)
        return self.fn(*args, **kwargs)


def _run(runner, **kwargs):
    """A fresh loop run with ``runner.test()``; returns (loop, the gallery
    image ids of every pair forward, scene / query GFN call counts)."""
    loop = LOOPS.build(dict(runner.cfg.test_cfg, **kwargs),
                       default_args=dict(runner=runner,
                                         dataloader=runner.cfg.test_dataloader,
                                         evaluator=runner.cfg.test_evaluator))
    loop.evaluator = Recorder(loop.evaluator)
    model = runner.model
    saved = {name: model.__dict__.get(name)
             for name in ('test_step', 'scene_embedding',
                          'query_gfn_embeddings')}
    calls = {
        name: Counting(getattr(model, name))
        for name in ('test_step', 'scene_embedding', 'query_gfn_embeddings')
    }
    for name, fn in calls.items():
        setattr(model, name, fn)
    try:
        runner._test_loop = loop
        runner.test()
    finally:
        for name, fn in saved.items():
            if fn is None:
                delattr(model, name)
            else:
                setattr(model, name, fn)
    forwarded = [(int(s.query_ann_id), int(s.img_id))
                 for data in calls['test_step'].args
                 for s in data['data_samples']['gallery']]
    counts = {k: len(v.args) for k, v in calls.items()}
    return loop, forwarded, counts


def _pairs(loop):
    return {(s['query_ann_id'], s['img_id']): s
            for s in loop.evaluator.samples if s['query_ann_id'] >= 0}


def _detections(loop):
    return {s['img_id']: s for s in loop.evaluator.samples
            if s['query_ann_id'] < 0}


def _assert_same_record(a, b, exact=True, gfn=True):
    keys = {'img_id', 'query_ann_id', 'is_query'} | (set(GFN_KEYS)
                                                     if gfn else set())
    assert {k: a.get(k) for k in keys} == {k: b.get(k) for k in keys}
    pa, pb = a['pred_instances'], b['pred_instances']
    assert pa.keys() == pb.keys()
    for k in pa:
        if exact:
            np.testing.assert_array_equal(pa[k], pb[k])
        else:
            np.testing.assert_allclose(pa[k], pb[k], rtol=1e-4, atol=1e-3)


@pytest.fixture(scope='module')
def at_zero(runner):
    return _run(runner, gfn_thr=0.0)


@pytest.fixture(scope='module')
def at_median(runner, at_zero):
    """A threshold between the scores (their median) and its run."""
    scores = [p['gfn_score'] for p in _pairs(at_zero[0]).values()]
    thr = float(np.median(scores))
    return (thr, ) + _run(runner, gfn_thr=thr)


def test_config_threshold_and_model(runner):
    assert isinstance(runner.model, QGN) and runner.model.with_gfn
    assert runner.model.test_cfg.gfn.filter_thr is None
    loop = LOOPS.build(dict(runner.cfg.test_cfg),
                       default_args=dict(runner=runner,
                                         dataloader=runner.cfg.test_dataloader,
                                         evaluator=runner.cfg.test_evaluator))
    assert loop.gfn_thr is None  # model.test_cfg.gfn.filter_thr
    runner.model.test_cfg.gfn.filter_thr = 0.5
    try:
        loop = LOOPS.build(dict(runner.cfg.test_cfg),
                           default_args=dict(
                               runner=runner,
                               dataloader=runner.cfg.test_dataloader,
                               evaluator=runner.cfg.test_evaluator))
        assert loop.gfn_thr == 0.5
    finally:
        runner.model.test_cfg.gfn.filter_thr = None


def test_threshold_zero_equals_no_filtering(runner, at_zero):
    loop0, forwarded0, counts = at_zero
    expected = qml.expanded_pairs(loop0.rset)
    assert sorted(forwarded0) == sorted(map(tuple, expected.tolist()))
    pairs0 = _pairs(loop0)
    assert len(pairs0) == len(expected) == 6 * 15
    scores = np.array([p['gfn_score'] for p in pairs0.values()])
    assert ((scores > 0.2689) & (scores < 0.7311)).all()  # sigmoid(cos)
    assert not any(p['gfn_skipped'] for p in pairs0.values())
    assert loop0.gfn_stats == dict(pairs=90, skipped=0)
    # one scene embedding per distinct gallery image, one GFN query pass
    # per query
    assert counts['scene_embedding'] == len(np.unique(expected[:, 1]))
    assert counts['query_gfn_embeddings'] == 6
    # no threshold: the same records; the model without its GFN: the same
    # records without the GFN fields
    loop_none, forwarded, _ = _run(runner)
    assert loop_none.gfn_thr is None and forwarded == forwarded0
    gfn = runner.model.gfn
    runner.model.gfn = None
    try:
        plain, forwarded, counts = _run(runner)
    finally:
        runner.model.gfn = gfn
    assert forwarded == forwarded0 and counts['scene_embedding'] == 0
    for other, with_gfn in ((loop_none, True), (plain, False)):
        pairs = _pairs(other)
        assert pairs.keys() == pairs0.keys()
        for key, rec in pairs.items():
            _assert_same_record(rec, pairs0[key], gfn=with_gfn)
            assert with_gfn == all(k in rec for k in GFN_KEYS)
        dets = _detections(other)
        assert dets.keys() == _detections(loop0).keys()
        for key, rec in dets.items():
            _assert_same_record(rec, _detections(loop0)[key], gfn=False)


def test_threshold_skips_exactly_the_pairs_below_it(at_zero, at_median):
    loop0 = at_zero[0]
    pairs0 = _pairs(loop0)
    scores = {k: p['gfn_score'] for k, p in pairs0.items()}
    thr, loop, forwarded, _ = at_median
    below = {k for k, s in scores.items() if s < thr}
    assert 0 < len(below) < len(scores)
    # no pair forward for the skipped pairs, one for each kept pair
    assert sorted(forwarded) == sorted(set(scores) - below)
    pairs = _pairs(loop)
    assert pairs.keys() == pairs0.keys()
    for key, rec in pairs.items():
        assert rec['gfn_score'] == scores[key]
        assert rec['gfn_skipped'] == (key in below)
        if key in below:
            pred = rec['pred_instances']
            assert pred['bboxes'].shape == (0, 4)
            assert pred['scores'].shape == pred['sims'].shape == (0, )
        else:  # other batch compositions: padding may differ
            _assert_same_record(
                dict(rec, gfn_skipped=False), pairs0[key], exact=False)
    assert loop.gfn_stats == dict(pairs=90, skipped=len(below))
    # a detection record per gallery image; empty when its owner skipped it
    dets0, dets = _detections(loop0), _detections(loop)
    assert dets.keys() == dets0.keys()
    qids = loop.rset.query_ann_ids
    for img_id, rec in dets.items():
        owner = (int(qids[loop.det_owner[img_id]]), img_id)
        if owner in below:
            assert rec['pred_instances']['bboxes'].shape == (0, 4)
            assert 'sims' not in rec['pred_instances']
        else:
            _assert_same_record(rec, dets0[img_id], exact=False, gfn=False)
    # the metric gets every record once
    assert loop.evaluator.size == len(loop.evaluator.samples)


def test_resume_with_filtering(runner, at_median, tmp_path):
    thr, ref = at_median[:2]
    resume_file = str(tmp_path / 'pairs.pkl')
    model, calls = runner.model, []
    real = model.query_gfn_embeddings

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:  # dies at query 4
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    model.query_gfn_embeddings = failing
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(runner, gfn_thr=thr, resume_file=resume_file)
    finally:
        del model.query_gfn_embeddings
    assert len(qml.read_resume_file(resume_file)) == 3
    with pytest.raises(ValueError, match='written with'):
        _run(runner, gfn_thr=0.0, resume_file=resume_file)
    resumed, _, counts = _run(runner, gfn_thr=thr, resume_file=resume_file)
    assert counts['query_gfn_embeddings'] == 3  # 3 queries replayed
    assert resumed.gfn_stats == ref.gfn_stats
    got, want = _pairs(resumed), _pairs(ref)
    assert got.keys() == want.keys()
    for key, rec in got.items():
        _assert_same_record(rec, want[key])
    assert collections.Counter(map(str, _detections(resumed))) == \
        collections.Counter(map(str, _detections(ref)))
