"""QueryMajorTestLoop (qgn_qeeps.md §9, §14 E1) with a tiny random QGN on
the synthetic CUHK-SYSU, retrieval set G50 (6 queries x 15 gallery images)."""
import collections
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmqgn.engine.loops.query_major_loop as qml
from mmqgn.evaluation.functional import eval_search_reference
from mmqgn.models.backbones.qsse_resnet import QSSE, QSSEBottleneck
from mmqgn.registry import LOOPS
from mmqgn.utils import register_all_modules, setup_cpu_distributed
from two_ranks import run_two_ranks, set_dist_env

register_all_modules(init_default_scope=False)
ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'configs/qgn/qgn_tiny_synthetic.py')
SET = 'G50'


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cfg(data_root, work_dir, config=CONFIG,
         name='query_major_loop') -> Config:
    """The tiny query-guided ``config`` on G50 of the fixture data, small
    images and few proposals, random weights."""
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    cfg.load_from = None
    # random weights: the faithful QSSE start (s ~ 0.5), whose outputs these
    # tests were written against
    cfg.model.backbone.qsse_init_bias = 0.0
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = None
    cfg.model.test_cfg.rpn.update(nms_pre=100, max_per_img=20)
    cfg.model.test_cfg.rcnn.max_per_img = 10
    root = str(data_root) + '/'
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadPersonSearchAnnotations', with_bbox=True),
        dict(type='Resize', scale=(240, 180), keep_ratio=True),
        dict(type='PackPersonSearchInputs')
    ]
    cfg.test_dataloader = dict(batch_size=1,
                               num_workers=0,
                               persistent_workers=False,
                               sampler=dict(type='DefaultSampler',
                                            shuffle=False),
                               dataset=dict(type='CUHKSYSUDataset',
                                            data_root=root,
                                            ann_file='annotations/test.json',
                                            data_prefix=dict(img=''),
                                            test_mode=True,
                                            retrieval_sets=[SET],
                                            pipeline=pipeline))
    cfg.test_evaluator = dict(type='PersonSearchMetric',
                              ann_file=root + 'annotations/test.json',
                              retrieval_sets=[SET],
                              det_thresh=0.0)
    cfg.test_cfg = dict(type='QueryMajorTestLoop',
                        retrieval_set=SET,
                        gallery_batch_size=4,
                        cache_size=256)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1000)
    cfg.default_hooks.visualization = dict(type='DetVisualizationHook')
    cfg.custom_hooks = []
    return cfg


def build_runner(cfg: Config) -> Runner:
    """A Runner with seeded random weights (live QSSE units)."""
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(0)
    runner.model.init_weights()
    for m in runner.model.modules():  # tiny widths: no dead QSSE fc1s
        if isinstance(m, QSSE):
            torch.nn.init.constant_(m.fc1.bias, 0.1)
    return runner


@pytest.fixture(scope='module')
def runner(synthetic_root, tmp_path_factory):
    torch.set_num_threads(1)
    return build_runner(
        _cfg(synthetic_root / 'CUHK-SYSU', tmp_path_factory.mktemp('qml')))


class Counting:
    """Wraps a pipeline; counts calls per (img_id, query_ann_id)."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.calls = collections.Counter()

    def __call__(self, info):
        self.calls[(info['img_id'], info['query_ann_id'])] += 1
        return self.pipeline(info)


class Recorder:
    """Wraps the evaluator; keeps every processed sample."""

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.samples = []

    def process(self, data_samples, data_batch=None):
        self.samples += list(data_samples)
        self.evaluator.process(data_samples=data_samples,
                               data_batch=data_batch)

    def evaluate(self, size):
        self.size = size
        return self.evaluator.evaluate(size)


def _loop(runner, **kwargs):
    """A fresh loop (own dataset and evaluator) with counting wrappers."""
    loop = LOOPS.build(dict(runner.cfg.test_cfg, **kwargs),
                       default_args=dict(runner=runner,
                                         dataloader=runner.cfg.test_dataloader,
                                         evaluator=runner.cfg.test_evaluator))
    loop.dataset.pipeline = Counting(loop.dataset.pipeline)
    loop.evaluator = Recorder(loop.evaluator)
    return loop


def _run(runner, loop):
    """``runner.test()`` with this loop (hooks included)."""
    runner._test_loop = loop
    return runner.test()


def _pairs(samples):
    return {
        (s['query_ann_id'], s['img_id']): s['pred_instances']
        for s in samples if s['query_ann_id'] >= 0
    }


@pytest.fixture(scope='module')
def batched(runner):
    loop = _loop(runner)
    metrics = _run(runner, loop)
    return loop, metrics


def test_loop_is_registered_and_used_by_the_runner(runner):
    assert isinstance(runner.test_loop, qml.QueryMajorTestLoop)
    assert runner.test_loop.gallery_batch_size == 4


def test_visits_exactly_the_expanded_pairs(batched):
    loop, _ = batched
    expected = qml.expanded_pairs(loop.rset)
    assert len(expected) == 6 * 15
    visited = [(s['query_ann_id'], s['img_id']) for s in loop.evaluator.samples
               if s['query_ann_id'] >= 0]
    assert collections.Counter(visited) == collections.Counter(
        map(tuple, expected.tolist()))
    # one plain gallery record per distinct gallery image (detection metric)
    gallery = [
        s['img_id'] for s in loop.evaluator.samples if s['query_ann_id'] < 0
    ]
    assert sorted(gallery) == sorted(set(expected[:, 1].tolist()))
    assert all('sims' not in s['pred_instances']
               for s in loop.evaluator.samples if s['query_ann_id'] < 0)
    assert loop.evaluator.size == len(loop.evaluator.samples)


def test_each_image_passes_the_pipeline_once(batched):
    loop, _ = batched
    calls = loop.dataset.pipeline.calls
    queries = {
        (int(loop.rset.anns.img_ids[i]), int(qid))
        for i, qid in zip(loop.rset.query_img_idx, loop.rset.query_ann_ids)
    }
    gallery = {
        (int(g), -1)
        for g in loop.rset.anns.img_ids[np.unique(loop.rset.gal_img_idx)]
    }
    assert len(queries) == len(loop.rset)
    # the query once per query, every gallery image once (cache of 256)
    assert calls == collections.Counter(queries | gallery)


def test_metrics_from_pair_samples(batched):
    loop, metrics = batched
    # the metric equals the loop-based reference evaluation of the pair
    # records the loop produced (det_thresh 0 as in the evaluator)
    ref = eval_search_reference(
        loop.rset, pairs=_pairs(loop.evaluator.samples), det_thresh=0.0)
    assert ref.num_queries == len(loop.rset) == 6
    assert metrics[f'person_search/{SET}/mAP'] == pytest.approx(ref.mAP,
                                                               abs=1e-6)
    for k in (1, 5, 10):
        assert metrics[f'person_search/{SET}/top{k}'] == pytest.approx(
            ref.top(k), abs=1e-6)
    assert metrics['person_search/det/recall'] > 0  # gallery records seen


def test_batched_equals_one_pair_at_a_time(runner, batched):
    loop, metrics = batched
    naive = _loop(runner, naive=True)
    naive_metrics = _run(runner, naive)
    assert naive.gallery_batch_size == 1 and len(naive.cache) == 0
    ref, got = _pairs(loop.evaluator.samples), _pairs(naive.evaluator.samples)
    assert ref.keys() == got.keys()
    assert any(len(p['sims']) for p in ref.values())
    for key, pred in ref.items():
        np.testing.assert_allclose(got[key]['sims'],
                                   pred['sims'],
                                   rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_allclose(got[key]['bboxes'],
                                   pred['bboxes'],
                                   rtol=1e-4,
                                   atol=1e-2)
    # without the cache every pair decodes its query and gallery image
    assert sum(naive.dataset.pipeline.calls.values()) == 2 * len(ref)
    # the test log counts pair batches: len(runner.test_dataloader)
    for run in (loop, naive):
        assert len(run.dataloader) == run._iter > 0
    assert len(naive.dataloader) == len(ref) > len(loop.dataloader)
    for key, value in metrics.items():
        assert naive_metrics[key] == pytest.approx(value, abs=1e-6)


def test_resume_after_interruption(runner, batched, tmp_path):
    _, metrics = batched
    resume_file = str(tmp_path / 'pairs.pkl')
    first = _loop(runner, resume_file=resume_file)
    model, calls = runner.model, []
    real_test_step = model.test_step

    def failing_test_step(data):
        calls.append(1)
        if len(calls) > 9:  # 4 + 4 + 4 + 3 batches per query: dies in q 3
            raise KeyboardInterrupt
        return real_test_step(data)

    model.test_step = failing_test_step
    try:
        with pytest.raises(KeyboardInterrupt):
            _run(runner, first)
    finally:
        del model.test_step
    assert len(qml.read_resume_file(resume_file)) == 2

    second = _loop(runner, resume_file=resume_file)
    resumed = _run(runner, second)
    # the first two queries are replayed, not run again
    run_queries = {k for k in second.dataset.pipeline.calls if k[1] >= 0}
    assert len(run_queries) == len(second.rset) - 2
    assert second.evaluator.size == len(second.evaluator.samples)
    assert len(qml.read_resume_file(resume_file)) == len(second.rset)
    for key, value in metrics.items():
        assert resumed[key] == pytest.approx(value, abs=1e-6)


@pytest.fixture(scope='module', params=[True, False], ids=['qrpn', 'no-qrpn'])
def no_qsse_runner(synthetic_root, tmp_path_factory, request):
    """The "+QRPN+QSimNet" and "+QSimNet" ablations (no QSSE): per-image
    features (and, without QRPN, per-image detections)."""
    torch.set_num_threads(1)
    cfg = _cfg(synthetic_root / 'CUHK-SYSU',
               tmp_path_factory.mktemp('qml_noqsse'),
               name=f'query_major_no_qsse_{request.param}')
    cfg.model.backbone.with_qsse = False
    cfg.model.with_qrpn = request.param
    runner = build_runner(cfg)
    # random weights without QSSE's s ~ 0.5 damping of every residual
    # branch overflow; damp them the same way
    for m in runner.model.backbone.modules():
        if isinstance(m, QSSEBottleneck):
            m.norm3.weight.data.mul_(0.5)
    return runner


def test_features_are_cached_only_without_qsse(runner, no_qsse_runner,
                                               batched):
    loop, _ = batched
    assert not runner.model.pair_independent_feats
    assert not runner.model.pair_independent_dets
    assert runner.model.pair_reuse == 'none' and loop.searcher.reuse
    model = no_qsse_runner.model
    assert model.pair_independent_feats
    assert model.pair_independent_dets == (not model.with_qrpn)
    cached = _loop(no_qsse_runner)
    assert cached.searcher.reuse
    assert model.pair_reuse == ('feats' if model.with_qrpn else 'dets')
    assert not _loop(no_qsse_runner, feat_cache_size=0).searcher.reuse
    assert not _loop(no_qsse_runner, naive=True).searcher.reuse


def test_cached_features_equal_the_pair_forward(no_qsse_runner,
                                                monkeypatch):
    """Each image through the BaseNet once (queries once per query); without
    QRPN each gallery image through the RPN and RoI head once and each
    query's embedding computed once; the same
    detections and scores as one full pair forward at a time."""
    model = no_qsse_runner.model
    passes = collections.Counter()
    real_feat, real_detect = model.extract_unguided_feat, model.roi_head.detect
    real_embed = model.roi_head.query_embeddings

    def counting_feat(inputs):
        passes['backbone'] += len(inputs)
        return real_feat(inputs)

    def counting_detect(x, proposals, samples):
        passes['detect'] += len(samples)
        return real_detect(x, proposals, samples)

    def counting_embed(x, bboxes):
        passes['query_embed'] += len(bboxes)
        return real_embed(x, bboxes)

    monkeypatch.setattr(model, 'extract_unguided_feat', counting_feat)
    monkeypatch.setattr(model.roi_head, 'query_embeddings', counting_embed)
    monkeypatch.setattr(model.roi_head, 'detect', counting_detect)
    cached = _loop(no_qsse_runner)
    cached_metrics = _run(no_qsse_runner, cached)
    monkeypatch.undo()
    n_gallery = len(np.unique(cached.rset.gal_img_idx))
    n_pairs = len(qml.expanded_pairs(cached.rset))
    assert passes['backbone'] == len(cached.rset) + n_gallery
    assert passes['detect'] == (n_pairs if model.with_qrpn else n_gallery)
    if not model.with_qrpn:  # detections cached: f_q once per query
        assert passes['query_embed'] == len(cached.rset)
    naive = _loop(no_qsse_runner, naive=True)
    naive_metrics = _run(no_qsse_runner, naive)
    ref = _pairs(naive.evaluator.samples)
    got = _pairs(cached.evaluator.samples)
    assert ref.keys() == got.keys()
    assert sum(len(p['sims']) for p in ref.values()) > 0
    for key, pred in ref.items():
        for field in ('sims', 'scores', 'bboxes'):
            np.testing.assert_allclose(got[key][field], pred[field],
                                       rtol=1e-4, atol=1e-4)
    for key, value in naive_metrics.items():
        assert cached_metrics[key] == pytest.approx(value, abs=1e-6)


def test_queries_are_split_across_ranks(batched, monkeypatch):
    loop, _ = batched
    monkeypatch.setattr(qml, 'get_world_size', lambda: 4)
    split = []
    for rank in range(4):
        monkeypatch.setattr(qml, 'get_rank', lambda r=rank: r)
        split.append(loop.my_queries())
    assert split == [[0, 4], [1, 5], [2], [3]]


def test_pipeline_cache_is_lru():
    loads = []
    cache = qml.PipelineCache(lambda k: loads.append(k) or k * 10, size=2)
    assert [cache[k] for k in (1, 2, 1, 3, 1, 2)] == [10, 20, 10, 30, 10, 20]
    assert loads == [1, 2, 3, 2] and len(cache) == 2


def _ddp_worker(rank, port, data_root, work_dir, ckpt, results):
    set_dist_env(rank, port)
    os.chdir(work_dir)  # mmengine collects results under ./.dist_test
    cfg = _cfg(data_root, work_dir)
    cfg.experiment_name = f'query_major_ddp{rank}'
    cfg.load_from = ckpt
    cfg.test_cfg.resume_file = str(work_dir / 'pairs.pkl')
    cfg.launcher = 'pytorch'
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    results[rank] = dict(metrics=metrics,
                         queries=runner.test_loop.my_queries())


def test_two_ranks_give_the_single_process_metrics(runner, batched, tmp_path):
    _, metrics = batched
    ckpt = str(tmp_path / 'random_qgn.pth')
    torch.save(dict(state_dict=runner.model.state_dict()), ckpt)
    r0, r1 = map(dict, run_two_ranks(
        _ddp_worker, runner.cfg.test_dataloader.dataset.data_root, tmp_path,
        ckpt))
    assert r0['queries'] == [0, 2, 4] and r1['queries'] == [1, 3, 5]
    for r in range(2):  # one resume file per rank, its queries only
        done = qml.read_resume_file(str(tmp_path / f'pairs.pkl.rank{r}'))
        assert len(done) == 3
    assert r0['metrics'].keys() == metrics.keys()
    for key, value in metrics.items():
        assert r0['metrics'][key] == pytest.approx(value, abs=1e-6), key
