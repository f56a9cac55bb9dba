"""mmqgn.apis.search for query-guided models (tiny random-init QGN) and
two-phase GFN search (OIMWithGFN, QGNWithGFN).

Random weights: the tests check what holds for any weights, i.e. that
the search gives exactly what the model's own pair ``predict`` gives, that
a GFN threshold of 0 changes nothing, that a threshold between two scenes'
GFN scores drops exactly the lower scene (whose detection heads never
run), and that the similarities are weighted by the GFN score.
"""
import numpy as np
import pytest
import torch

from mmqgn.apis import (SearchInputError, SearchMatch, build_test_pipeline,
                        detect_persons, extract_gfn_query,
                        extract_scene_embeddings, extract_query,
                        init_searcher, search)
from mmqgn.search import gfn_scores

torch.set_num_threads(1)

QGN_CFG = 'configs/qgn/qgn_tiny_synthetic.py'
OIM_GFN_CFG = 'configs/oim/oim_gfn_tiny_synthetic.py'
GFN = dict(type='GalleryFilterNetwork', mode='combined', pool_size=7,
           beta=0.2, score_temperature=1.0, filter_neg=True,
           loss=dict(type='NTXentLoss', temperature=0.1))


def _searcher(config, root, **options):
    torch.manual_seed(0)
    return init_searcher(f'{root}/{config}', device='cpu',
                         cfg_options=dict(load_from=None, **options))


@pytest.fixture(scope='module')
def repo_root(tiny_config):
    return tiny_config.rsplit('/configs/', 1)[0]


@pytest.fixture(scope='module')
def qgn(repo_root):
    return _searcher(QGN_CFG, repo_root)


@pytest.fixture(scope='module')
def oim_gfn(repo_root):
    return _searcher(OIM_GFN_CFG, repo_root)


@pytest.fixture(scope='module')
def qgn_gfn(repo_root):
    return _searcher(QGN_CFG, repo_root, **{
        'model.type': 'QGNWithGFN',
        'model.gfn': GFN
    })


def _key(m: SearchMatch):
    return (m.gallery_idx, tuple(np.round(m.bbox, 3)))


def _assert_same(a, b):
    """The same matches, in the same order, with the same numbers."""
    assert [_key(m) for m in a] == [_key(m) for m in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.bbox, y.bbox)
        assert (x.score, x.similarity, x.gfn_score) == \
            (y.score, y.similarity, y.gfn_score)


# ------------------------------------------------------------------- QGN
def _hand_pair_predict(model, qpath, qbox, gpath):
    """The model's pair ``predict`` on (query, gallery), batch built by
    hand: the test pipeline on both images, the pair preprocessor."""
    pipeline = build_test_pipeline(model.cfg)
    query = pipeline(
        dict(img_path=qpath, img_id=0, is_query=True, query_ann_id=-1,
             cam_id=-1, instances=[dict(bbox=list(qbox), bbox_label=0,
                                        ignore_flag=0, person_id=-1,
                                        person_label=-1)]))
    gallery = pipeline(
        dict(img_path=gpath, img_id=0, is_query=False, query_ann_id=-1,
             cam_id=-1, instances=[]))
    data = model.data_preprocessor(
        dict(inputs=dict(query=[query['inputs']],
                         gallery=[gallery['inputs']]),
             data_samples=dict(query=[query['data_samples']],
                               gallery=[gallery['data_samples']])), False)
    with torch.no_grad():
        sample = model.predict(data['inputs'], data['data_samples'])[0]
    return sample.pred_instances, sample.ori_shape


def test_qgn_search_equals_pair_predict(qgn, scenes):
    (qpath, qboxes), (gpath, _) = scenes[:2]
    stats = {}
    matches = search(qgn, qpath, qboxes[0], [gpath], progress=False,
                     stats=stats)
    assert stats == dict(num_scenes=1, num_skipped=0, gfn_thr=None,
                         gfn_scores=[])
    pred, (h, w) = _hand_pair_predict(qgn, qpath, qboxes[0], gpath)
    assert len(pred) > 0 and len(matches) == len(pred)
    assert all(isinstance(m, SearchMatch) and m.gfn_score is None
               for m in matches)
    order = torch.argsort(pred.sims, descending=True, stable=True)
    boxes = pred.bboxes[order].clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    np.testing.assert_allclose(np.stack([m.bbox for m in matches]),
                               boxes.numpy(), rtol=0, atol=1e-4)
    np.testing.assert_allclose([m.similarity for m in matches],
                               pred.sims[order].numpy(), atol=1e-6)
    np.testing.assert_allclose([m.score for m in matches],
                               pred.scores[order].numpy(), atol=1e-6)


def test_qgn_search_batches_and_ranking(qgn, scenes):
    (qpath, qboxes), (p1, _), (p2, _), (p3, _) = scenes[:4]
    gallery = [p1, p2, p3]
    one = search(qgn, qpath, qboxes[0], gallery, progress=False)
    sims = [m.similarity for m in one]
    assert sims == sorted(sims, reverse=True)
    assert {m.gallery_idx for m in one} == {0, 1, 2}
    # same-size synthetic images: batching pads nothing, same numbers
    two = search(qgn, qpath, qboxes[0], iter(gallery), progress=False,
                 batch_size=2)
    assert [_key(m) for m in two] == [_key(m) for m in one]
    np.testing.assert_allclose([m.similarity for m in two], sims,
                               atol=1e-5)
    top = search(qgn, qpath, qboxes[0], gallery, topk=4, score_thr=0.3,
                 progress=False)
    kept = [m for m in one if m.score >= 0.3][:4]
    assert [_key(m) for m in top] == [_key(m) for m in kept]


def test_qgn_input_errors(qgn, scenes):
    path, boxes = scenes[0]
    for gallery in ([], iter([])):
        with pytest.raises(SearchInputError, match='gallery is empty'):
            search(qgn, path, boxes[0], gallery, progress=False)
    with pytest.raises(SearchInputError, match='outside the image'):
        search(qgn, path, [10, 10, 5000, 50], [path], progress=False)
    with pytest.raises(SearchInputError, match='needs a model with a Gallery Filter'):
        search(qgn, path, boxes[0], [path], gfn_thr=0.5, progress=False)
    with pytest.raises(TypeError, match='query-guided'):
        extract_query(qgn, path, boxes[0])
    with pytest.raises(TypeError, match='query-guided'):
        detect_persons(qgn, path)


# ------------------------------------------------------------------- GFN
class _CountGalleries:
    """Wraps a head method; counts the gallery samples it is run on."""

    def __init__(self, fn, samples_arg: int):
        self.fn, self.arg, self.count = fn, samples_arg, 0

    def __call__(self, *args, **kwargs):
        samples = args[self.arg]
        self.count += sum(not ds.metainfo.get('is_query', False)
                          for ds in samples)
        return self.fn(*args, **kwargs)


def _two_phase(model, scenes, monkeypatch):
    """Unfiltered search over 3 scenes; then a threshold between the two
    lowest GFN scores: the lowest scene's matches vanish, the others stay,
    its heads never run."""
    (qpath, qboxes), *gal = scenes[:4]
    gallery = [p for p, _ in gal]
    free = {}
    weighted = search(model, qpath, qboxes[0], gallery, progress=False,
                      stats=free, gfn_thr=None)
    scores = np.array(free['gfn_scores'])
    assert scores.shape == (3, ) and (scores > 0).all()
    # phase-1 scores: query record vs cached scene embeddings
    record = extract_gfn_query(model, qpath, qboxes[0])
    scene_emb = extract_scene_embeddings(model, gallery, batch_size=2)
    with torch.no_grad():
        phase1 = gfn_scores(model, record, scene_emb)
    np.testing.assert_allclose(phase1.numpy(), scores, atol=1e-5)
    # threshold 0 keeps everything: exactly the weighted results
    zero = {}
    _assert_same(search(model, qpath, qboxes[0], gallery, progress=False,
                        gfn_thr=0.0, stats=zero), weighted)
    assert zero['num_skipped'] == 0
    low = int(np.argmin(scores))
    thr = float((scores[low] + np.sort(scores)[1]) / 2)
    assert np.sort(scores)[1] > scores[low], 'GFN scores tie'

    counter = _CountGalleries(model.roi_head.predict, 2)
    monkeypatch.setattr(model.roi_head, 'predict', counter)
    stats = {}
    filtered = search(model, qpath, qboxes[0], gallery, progress=False,
                      gfn_thr=thr, stats=stats)
    assert counter.count == 2  # the heads ran on the two kept scenes only
    assert stats['num_skipped'] == 1 and stats['gfn_thr'] == thr
    _assert_same(filtered, [m for m in weighted if m.gallery_idx != low])
    assert any(m.gallery_idx == low for m in weighted)
    for m in weighted:
        assert m.gfn_score == pytest.approx(scores[m.gallery_idx], abs=1e-6)
    # the threshold of the config is the default
    monkeypatch.setitem(model.test_cfg, 'gfn', dict(filter_thr=thr))
    _assert_same(search(model, qpath, qboxes[0], gallery, progress=False),
                 filtered)
    return weighted, scores, record, gallery


def test_oim_gfn_two_phase_search(oim_gfn, scenes, monkeypatch):
    weighted, scores, record, gallery = _two_phase(oim_gfn, scenes,
                                                   monkeypatch)
    # weighted similarity = cosine to the query embedding x GFN score
    dets = detect_persons(oim_gfn, gallery[:1])[0]
    first = [m for m in weighted if m.gallery_idx == 0]
    assert len(first) == len(dets)
    query = record['embedding'].cpu()
    for m in first[:5]:
        i = int(torch.argmin((dets.bboxes - torch.from_numpy(m.bbox)).abs()
                             .sum(1)))
        assert m.similarity == pytest.approx(
            (dets.embeddings[i] @ query).item() * scores[0], abs=1e-5)


def test_qgn_gfn_two_phase_search(qgn_gfn, scenes, monkeypatch):
    weighted, scores, _, gallery = _two_phase(qgn_gfn, scenes, monkeypatch)
    (qpath, qboxes) = scenes[0]
    # weighted similarity = the pair sims x GFN score
    plain = [m for m in search(qgn_gfn, qpath, qboxes[0], gallery[:1],
                               progress=False)]
    pred, _ = _hand_pair_predict(qgn_gfn, qpath, qboxes[0], gallery[0])
    top = torch.sort(pred.sims, descending=True).values[:5]
    np.testing.assert_allclose([m.similarity for m in plain[:5]],
                               (top * scores[0]).numpy(), atol=1e-6)
