"""GFN metrics of the person-search evaluator (gfn_seqnext.md §3.1, §3.7,
§5.6; decisions 3, 26): hand-computed cases, equalities between code paths,
and an end-to-end check from a tiny OIMWithGFN."""
import copy

import numpy as np
import pytest
from fixtures.search_problem import make_search_problem

from mmqgn.evaluation import calibrate_gfn_threshold, gfn_negative_filtered
from mmqgn.evaluation.functional import (entry_gfn_scores,
                                         evaluate_person_search,
                                         score_from_code)
from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
                              records_to_results, sample_to_record)
from test_person_search_metric import (PERSON, _write_dataset, dets,
                                       make_ann, make_set)

torch = pytest.importorskip('torch')
torch.set_num_threads(1)

GFN_KEYS = {'gfn_mAP', 'gfn_top1', 'scene_mAP', 'scene_top1', 'scene_thr99',
            'scene_npv99', 'filtered_mAP', 'filtered_top1', 'filter_thr',
            'skipped'}

# one query (ann 0, pid 7, image 1), gallery images 2..5:
#   image: pid there, detection sim, GFN score
#   2: 7 (positive), 0.6, 0.70
#   3: 8,            0.9, 0.30
#   4: 7 (positive), 0.5, 0.60
#   5: 9,            0.4, 0.65
SIMS = {2: 0.6, 3: 0.9, 4: 0.5, 5: 0.4}
GFN = {2: 0.70, 3: 0.30, 4: 0.60, 5: 0.65}


def _case(tmp_path, skip=()):
    ann = make_ann({i: -1 for i in range(1, 6)},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8),
                    (3, 4, PERSON, 7), (4, 5, PERSON, 9)])
    ann_file = _write_dataset(tmp_path, ann,
                              {'T': make_set([(0, 1, 7, [2, 3, 4, 5])])})
    pairs = {}
    for g, s in SIMS.items():
        d = dets() if g in skip else dets((PERSON, 0.9, s))
        pairs[(0, g)] = {'bboxes': d['bboxes'], 'scores': d['scores'],
                         'sims': d['embeddings'][:, 0], 'gfn_score': GFN[g],
                         'gfn_skipped': g in skip}
    return ann_file, {'gallery': {}, 'pairs': pairs}


def _eval(ann_file, results, **kw):
    m = evaluate_person_search(results, ann_file, ['T'], topk=(1, ),
                               eval_detection=False, print_table=False, **kw)
    return {k[2:]: v for k, v in m.items()}


def test_hand_case_weighting_scene_retrieval_threshold_and_filtering(
        tmp_path):
    ann_file, results = _case(tmp_path)
    m = _eval(ann_file, results)
    assert set(m) == {'mAP', 'top1'} | GFN_KEYS
    # unweighted: 3 (0.9, neg), 2 (0.6, TP), 4 (0.5, TP), 5 -> (1/2 + 2/3)/2
    assert m['mAP'] == pytest.approx(7 / 12) and m['top1'] == 0
    # weighted: 2 0.42 TP, 4 0.30 TP, 3 0.27, 5 0.26 -> AP 1
    assert m['gfn_mAP'] == pytest.approx(1.0) and m['gfn_top1'] == 1
    # scenes by GFN score: 2 (pos), 5, 4 (pos), 3 -> (1 + 2/3) / 2
    assert m['scene_mAP'] == pytest.approx(5 / 6) and m['scene_top1'] == 1
    # positives 0.7, 0.6: index floor(0.99 * 2) = 1 -> 0.6; negatives 0.3,
    # 0.65: one of two below
    assert m['scene_thr99'] == pytest.approx(0.6)
    assert m['scene_npv99'] == pytest.approx(0.5)
    # oracle filtering at 0.6 drops image 3 only: AP 1, 1 pair of 4 skipped
    assert m['filter_thr'] == pytest.approx(0.6)
    assert m['filtered_mAP'] == pytest.approx(1.0)
    assert m['skipped'] == pytest.approx(0.25)
    # at 0.65 image 4 (a positive) goes too: AP 1 * recall 1/2
    m = _eval(ann_file, results, gfn_thr=0.65)
    assert m['filtered_mAP'] == pytest.approx(0.5)
    assert m['filtered_top1'] == 1 and m['skipped'] == pytest.approx(0.5)
    # the unweighted and weighted numbers do not depend on the threshold
    assert m['mAP'] == pytest.approx(7 / 12) and m['gfn_mAP'] == 1.0


def test_threshold_zero_equals_weighted_and_above_all_skips_everything(
        tmp_path):
    ann_file, results = _case(tmp_path)
    m = _eval(ann_file, results, gfn_thr=0.0)
    for key in ('mAP', 'top1'):
        assert m[f'filtered_{key}'] == m[f'gfn_{key}']
    assert m['skipped'] == 0.0
    m = _eval(ann_file, results, gfn_thr=0.9)
    assert m['skipped'] == 1.0
    assert m['filtered_mAP'] == 0.0 and m['filtered_top1'] == 0.0


def test_pair_form_skipped_pairs(tmp_path):
    # the model skipped image 3 (empty predictions): it is missing from
    # every ranking and counts as skipped even at threshold 0
    ann_file, results = _case(tmp_path, skip=(3, ))
    m = _eval(ann_file, results, gfn_thr=0.0)
    assert m['mAP'] == pytest.approx(1.0) and m['top1'] == 1
    assert m['skipped'] == pytest.approx(0.25)
    assert m['filtered_mAP'] == m['gfn_mAP'] == pytest.approx(1.0)
    # the GFN-only metrics still use its score as given
    assert m['scene_mAP'] == pytest.approx(5 / 6)


def test_calibration_rule_and_npv():
    pos = np.r_[np.ones(200, bool), np.zeros(4, bool)]
    scores = np.r_[np.linspace(1.0, 0.005, 200), [0.001, 0.004, 0.5, 0.9]]
    # floor(0.99 * 200) = 198: the second-lowest positive
    thr = calibrate_gfn_threshold(scores, pos)
    assert thr == pytest.approx(np.linspace(1.0, 0.005, 200)[198])
    assert gfn_negative_filtered(scores, pos, thr) == 0.5
    # 10 positives: floor(9.9) = 9 -> the lowest one; recall 1 clips
    assert calibrate_gfn_threshold(scores[-14:], pos[-14:]) == \
        pytest.approx(scores[199])
    assert calibrate_gfn_threshold([0.3, 0.2], [True, True], 1.0) == 0.2
    assert calibrate_gfn_threshold([0.3], [False]) == 0.0
    assert gfn_negative_filtered([0.3], [True], 0.5) == 0.0


def _random_problem(tmp_path, seed=0):
    """Random problem with 4-d GFN scene embeddings and 'base'-mode codes
    (u = unit person vector): embedding and pair forms of the same GFN."""
    pb = make_search_problem(n_images=40, n_persons=12, dim=8, seed=seed,
                             gallery_sizes=(10, ), pairs=True)
    ann_file = _write_dataset(tmp_path, pb['ann'], pb['sets'])
    rng = np.random.default_rng(seed)
    res = copy.deepcopy(pb['results'])
    for g in res['gallery'].values():
        g['scene_embedding'] = rng.normal(size=4).astype(np.float32)
    codes = {}
    for ann_id in res['queries']:
        u = rng.normal(size=4)
        code = np.r_[u / np.linalg.norm(u), np.ones(4), np.zeros(4),
                     0.0, 0.0, 0.5].astype(np.float32)
        codes[ann_id] = {'gfn_query': code,
                         'scene_embedding': np.zeros(4, np.float32)}
    res['query_gfn'] = codes
    return ann_file, pb, res


def test_threshold_zero_equals_weighted_all_keys_random(tmp_path):
    ann_file, pb, res = _random_problem(tmp_path)
    res.pop('pairs', None)
    kw = dict(topk=(1, 5), eval_detection=False, print_table=False)
    m0 = evaluate_person_search(res, ann_file, ['G10'], gfn_thr=0.0, **kw)
    for k in ('mAP', 'top1', 'top5'):
        assert m0[f'G10/filtered_{k}'] == m0[f'G10/gfn_{k}']
    assert m0['G10/skipped'] == 0.0
    # weighting changes the ranking here, filtering at the oracle threshold
    # skips work
    assert m0['G10/gfn_mAP'] != m0['G10/mAP']
    m = evaluate_person_search(res, ann_file, ['G10'], **kw)
    assert 0 < m['G10/skipped'] < 1
    assert m['G10/filter_thr'] == m['G10/scene_thr99']


def test_embedding_form_equals_pair_form_with_given_scores(tmp_path):
    ann_file, pb, res = _random_problem(tmp_path, seed=1)
    anns = PersonSearchAnnotations(ann_file)
    rset = RetrievalSet(pb['sets']['G10'], anns)
    score, skipped = entry_gfn_scores(rset, res['gallery'], res['query_gfn'])
    assert not skipped.any() and ((score > 0) & (score < 1)).all()
    # scores = score_from_code of the query's code and the image's scene
    q, g = 3, 5
    e = rset.gal_ptr[q] + g
    code = res['query_gfn'][int(rset.query_ann_ids[q])]['gfn_query']
    scene = res['gallery'][int(anns.img_ids[rset.gal_img_idx[e]])][
        'scene_embedding']
    assert score[e] == pytest.approx(
        float(score_from_code(code[None], scene[None])[0, 0]), abs=1e-7)
    # pair form with those scores (sims unweighted) gives the same metrics
    pairs = {}
    for k in range(len(rset)):
        ann_id = int(rset.query_ann_ids[k])
        for j, img in enumerate(rset.gallery_image_ids(k).tolist()):
            p = dict(res['pairs'][(ann_id, img)])
            p['gfn_score'] = float(score[rset.gal_ptr[k] + j])
            pairs[(ann_id, img)] = p
    kw = dict(topk=(1, 5), eval_detection=False, print_table=False)
    emb = evaluate_person_search(
        {k: v for k, v in res.items() if k != 'pairs'}, ann_file, ['G10'],
        **kw)
    pair = evaluate_person_search({'gallery': res['gallery'],
                                   'pairs': pairs}, ann_file, ['G10'], **kw)
    assert set(emb) == set(pair)
    for k in emb:
        assert pair[k] == pytest.approx(emb[k], abs=1e-6), k
    # weighting inside the evaluator = pair sims multiplied beforehand
    pre = {k: dict(v, sims=np.asarray(v['sims'], np.float32) *
                   np.float32(v['gfn_score']))
           for k, v in pairs.items()}
    for p in pre.values():
        p.pop('gfn_score')
    plain = evaluate_person_search({'gallery': res['gallery'],
                                    'pairs': pre}, ann_file, ['G10'], **kw)
    assert 'G10/gfn_mAP' not in plain
    assert plain['G10/mAP'] == pytest.approx(emb['G10/gfn_mAP'], abs=1e-12)
    assert plain['G10/top5'] == pytest.approx(emb['G10/gfn_top5'])


def test_missing_gfn_fields_raise_clear_errors(tmp_path):
    ann_file, pb, res = _random_problem(tmp_path)
    res.pop('pairs', None)
    gal = dict(res['gallery'])
    img = next(iter(gal))
    gal[img] = {k: v for k, v in gal[img].items() if k != 'scene_embedding'}
    kw = dict(eval_detection=False, print_table=False)
    with pytest.raises(KeyError, match='scene_embedding'):
        evaluate_person_search(dict(res, gallery=gal), ann_file, ['G10'],
                               **kw)
    codes = dict(res['query_gfn'])
    codes.pop(next(iter(codes)))
    with pytest.raises(KeyError, match='gfn_query'):
        evaluate_person_search(dict(res, query_gfn=codes), ann_file, ['G10'],
                               **kw)


def test_records_carry_gfn_fields():
    emb = torch.randn(2, 4)
    g = sample_to_record({'img_id': 3, 'gfn_skipped': True,
                          'scene_embedding': torch.ones(4),
                          'pred_instances': {'bboxes': torch.zeros(2, 4),
                                             'scores': torch.ones(2),
                                             'embeddings': emb}})
    q = sample_to_record({'img_id': 1, 'is_query': True, 'query_ann_id': 5,
                          'scene_embedding': torch.ones(4),
                          'gfn_query': torch.arange(15.),
                          'pred_instances': {'embeddings': emb[:1]}})
    p = sample_to_record({'img_id': 3, 'query_ann_id': 5, 'gfn_score': 0.4,
                          'pred_instances': {'bboxes': torch.zeros(0, 4),
                                             'scores': torch.zeros(0),
                                             'sims': torch.zeros(0)}})
    out = records_to_results([g, q, p])
    assert out['gallery'][3]['gfn_skipped'] is True
    assert out['gallery'][3]['scene_embedding'].tolist() == [1.0] * 4
    assert out['query_gfn'][5]['gfn_query'].tolist() == list(range(15))
    assert out['query_gfn'][5]['scene_embedding'].shape == (4, )
    assert out['pairs'][(5, 3)]['gfn_score'] == pytest.approx(0.4)
    assert 'gfn_skipped' not in out['pairs'][(5, 3)]


# ------------------------------------------------------------- end to end
def test_end_to_end_oim_with_gfn_metric(tmp_path):
    pytest.importorskip('mmdet')
    import os.path as osp
    import sys
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'test_models'))
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from toy_scenes import SCALE, SCENES, toy_image, toy_sample

    from mmqgn.evaluation import PersonSearchMetric
    from mmqgn.search import gfn_scores
    from mmqgn.registry import MODELS

    init_default_scope('mmqgn')
    root = osp.join(osp.dirname(__file__), '..', '..')
    cfg = Config.fromfile(
        osp.join(root, 'configs/oim/oim_gfn_tiny_synthetic.py')).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()

    # images 0, 1: the toy scenes; 2: scene 0 with its first person only.
    # Queries: ann 11 (pid 100 in image 1) and ann 10 (pid 101, image 1),
    # gallery [0, 2] (pid 100 is in both, pid 101 in none)
    scenes = [SCENES[0], SCENES[1], SCENES[0][:1]]
    ann_ids = iter([20, 21, 10, 11, 30])
    boxes = [(next(ann_ids), i, tuple(v / SCALE for v in box),
              label + 100 if label >= 0 else -1)
             for i, scene in enumerate(scenes) for box, label, _ in scene]
    ann = make_ann({0: -1, 1: -1, 2: -1}, boxes)
    rset = make_set([(11, 1, 100, [0, 2]), (10, 1, 101, [0, 2])], name='T')
    ann_file = _write_dataset(tmp_path, ann, {'T': rset})

    inputs = (torch.stack([toy_image(s, i) for i, s in enumerate(scenes)] +
                          [toy_image(SCENES[1], 1)] * 2) - 110.0) / 40.0
    samples = [toy_sample(s) for s in scenes]
    for i, s in enumerate(samples):
        s.set_metainfo(dict(img_id=i))
    for ann_id, k in ((11, 1), (10, 0)):
        q = toy_sample([SCENES[1][k]], is_query=True, hbox=True)
        q.set_metainfo(dict(img_id=1, query_ann_id=ann_id))
        samples.append(q)
    with torch.no_grad():
        out = model.predict(inputs, copy.deepcopy(samples))

    metric = PersonSearchMetric(ann_file, retrieval_sets=['T'], det_thresh=0.0,
                                topk=(1, ), eval_detection=False)
    metric.dataset_meta = {}
    metric.process({}, [ds.to_dict() for ds in out])
    results = records_to_results(metric.results)
    m = metric.evaluate(len(out))
    assert {f'person_search/T/{k}' for k in GFN_KEYS} <= set(m)
    assert all(0.0 <= v <= 1.0 for v in m.values())
    # the metric's scores are the model's gfn_scores()
    rs = RetrievalSet(rset, PersonSearchAnnotations(ann_file))
    score, _ = entry_gfn_scores(rs, results['gallery'], results['query_gfn'])
    for k, query in ((0, out[3]), (1, out[4])):
        with torch.no_grad():
            ref = gfn_scores(model, query, [out[0], out[2]])
        np.testing.assert_allclose(score[2 * k:2 * k + 2], ref.numpy(),
                                   atol=1e-5, rtol=0)
    # both gallery images hold pid 100 (query 11): scene AP 1, top-1 1;
    # pid 101 (query 10) is in none: AP 0 -> means 1/2
    assert m['person_search/T/scene_mAP'] == pytest.approx(0.5)
    assert m['person_search/T/scene_top1'] == pytest.approx(0.5)
