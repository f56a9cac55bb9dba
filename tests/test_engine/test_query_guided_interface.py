"""The declared query-guided interface is complete: a toy model that
implements only :class:`QueryGuidedDetector` (``toy_query_guided.py``) runs
through the searcher, the search API and the query-major loop (2 processes
included), with its own reuse giving the reference pair forward's
results."""
import os

import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from mmqgn.apis import SearchMatch, search
from mmqgn.models.detectors import QueryGuidedDetector, pair_forward
from mmqgn.registry import LOOPS
from mmqgn.search import Searcher
from mmqgn.utils import register_all_modules, setup_cpu_distributed
from test_query_major_loop import _cfg as query_major_cfg
from toy_query_guided import ToyQueryGuided
from two_ranks import run_two_ranks, set_dist_env

register_all_modules(init_default_scope=False)
PREPROCESSOR = dict(type='PairDataPreprocessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True,
                    pad_size_divisor=16)


def _cfg(data_root, work_dir, name='toy_query_guided'):
    cfg = query_major_cfg(data_root, work_dir, name=name)
    cfg.model = dict(type='ToyQueryGuided', grid=2,
                     data_preprocessor=PREPROCESSOR)
    return cfg


@pytest.fixture(scope='module')
def runner(synthetic_root, tmp_path_factory):
    return Runner.from_cfg(
        _cfg(synthetic_root / 'CUHK-SYSU', tmp_path_factory.mktemp('toyqg')))


def _loop(runner, **kwargs):
    return LOOPS.build(dict(runner.cfg.test_cfg, **kwargs),
                       default_args=dict(runner=runner,
                                         dataloader=runner.cfg.test_dataloader,
                                         evaluator=runner.cfg.test_evaluator))


class _Recorder:

    def __init__(self, evaluator):
        self.evaluator, self.samples = evaluator, []

    def process(self, data_samples, data_batch=None):
        self.samples += list(data_samples)
        self.evaluator.process(data_samples=data_samples,
                               data_batch=data_batch)

    def evaluate(self, size):
        return self.evaluator.evaluate(size)


def _run(runner, loop):
    loop.evaluator = _Recorder(loop.evaluator)
    runner._test_loop = loop
    return runner.test(), loop.evaluator.samples


def _pairs(samples):
    return {(s['query_ann_id'], s['img_id']): s['pred_instances']
            for s in samples if s['query_ann_id'] >= 0}


def test_toy_implements_only_the_interface():
    assert issubclass(ToyQueryGuided, QueryGuidedDetector)
    # nothing of mmqgn's detectors: the searcher needs the interface only
    from mmqgn.models.detectors import PersonSearchDetector
    assert not issubclass(ToyQueryGuided, PersonSearchDetector)

    class NoPredict(QueryGuidedDetector):
        pass

    with pytest.raises(TypeError, match='abstract'):
        NoPredict()


def test_loop_reuse_equals_the_reference_pair_forward(runner):
    model = runner.model
    model.calls.update(encode_query=0, encode_gallery=0, predict=0)
    reused, reused_samples = _run(runner, _loop(runner))
    loop = runner.test_loop
    n_gallery = len(np.unique(loop.rset.gal_img_idx))
    assert model.calls == dict(encode_query=len(loop.rset),
                               encode_gallery=n_gallery, predict=0)
    model.calls.update(encode_query=0, encode_gallery=0, predict=0)
    naive, naive_samples = _run(runner, _loop(runner, naive=True))
    n_pairs = len(_pairs(naive_samples))
    assert n_pairs == 6 * 15
    assert model.calls == dict(encode_query=0, encode_gallery=0,
                               predict=n_pairs)
    ref, got = _pairs(naive_samples), _pairs(reused_samples)
    assert ref.keys() == got.keys()
    for key, pred in ref.items():
        assert len(pred['sims']) == 4
        for field in ('bboxes', 'scores', 'sims'):
            np.testing.assert_allclose(got[key][field], pred[field],
                                       rtol=1e-5, atol=1e-6)
    assert reused.keys() == naive.keys()
    for key, value in naive.items():
        assert reused[key] == pytest.approx(value, abs=1e-6), key
    # the sims are not constant: the ranking depends on the query
    sims = np.concatenate([p['sims'] for p in ref.values()])
    assert sims.std() > 0


def test_searcher_and_api_rank_by_the_pair_sims(runner):
    loop = _loop(runner)
    model = runner.model.eval()
    model.cfg = runner.cfg
    qid = int(loop.rset.query_ann_ids[0])
    query = loop.data.load_query(qid)
    gal_ids = loop.rset.gallery_image_ids(0).tolist()[:3]
    items = [loop.data.load_gallery(g) for g in gal_ids]
    searcher = Searcher(model)
    searcher.set_query(query, qid)
    preds, scores = searcher.search([(g, lambda it=it: it)
                                     for g, it in zip(gal_ids, items)])
    assert scores is None
    ref = pair_forward(model, query, items, qid)
    for pred, want in zip(preds, ref):
        assert pred.query_ann_id == qid
        torch.testing.assert_close(pred.pred_instances.sims,
                                   want.pred_instances.sims)
    # the API: image paths and the query box in original pixels
    info = loop.dataset.get_data_info(loop.data.query_index[qid])
    qpath, qbox = info['img_path'], info['instances'][0]['bbox']
    gpaths = [it['data_samples'].img_path for it in items]
    matches = search(model, qpath, qbox, gpaths, progress=False)
    assert len(matches) == 3 * 4
    assert all(isinstance(m, SearchMatch) for m in matches)
    sims = [m.similarity for m in matches]
    assert sims == sorted(sims, reverse=True)
    want = sorted((float(s) for p in ref for s in p.pred_instances.sims),
                  reverse=True)
    np.testing.assert_allclose(sims, want, rtol=1e-4, atol=1e-5)


def _ddp_worker(rank, port, data_root, work_dir, results):
    set_dist_env(rank, port)
    os.chdir(work_dir)
    cfg = _cfg(data_root, work_dir, name=f'toy_qg_ddp{rank}')
    cfg.launcher = 'pytorch'
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    results[rank] = dict(metrics=runner.test(),
                         queries=runner.test_loop.my_queries())


def test_two_ranks_give_the_single_process_metrics(runner, tmp_path):
    single, _ = _run(runner, _loop(runner))
    r0, r1 = map(dict, run_two_ranks(
        _ddp_worker, runner.cfg.test_dataloader.dataset.data_root, tmp_path))
    assert r0['queries'] == [0, 2, 4] and r1['queries'] == [1, 3, 5]
    assert r0['metrics'].keys() == single.keys()
    for key, value in single.items():
        assert r0['metrics'][key] == pytest.approx(value, abs=1e-6), key
        assert r1['metrics'][key] == pytest.approx(value, abs=1e-6), key
