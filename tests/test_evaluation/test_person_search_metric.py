"""Tests of the legacy-exact person-search evaluator.

Hand-computed cases use 1-d embeddings (query = [1], detection = [s]) so that
every similarity is exactly the number written in the test. Each case runs
the vectorised implementation and the reference loop and checks both.
"""
import json
import pickle

import numpy as np
import pytest
from fixtures.search_problem import make_search_problem

from mmqgn.evaluation.functional import (GalleryPredictions,
                                         average_precision, eval_detection,
                                         eval_detection_reference,
                                         eval_search, eval_search_reference,
                                         evaluate_person_search, legacy_iou,
                                         legacy_iou_matrix, legacy_iou_np)
from mmqgn.structures import PersonSearchAnnotations, RetrievalSet

# --------------------------------------------------------------------------
# helpers


def make_ann(images, boxes):
    """images: {img_id: cam_id}; boxes: [(ann_id, img_id, (x1, y1, x2, y2),
    pid[, iou_thresh])] -> COCO-style dict (iou_thresh computed when not
    given)."""
    anns = []
    for b in boxes:
        ann_id, img_id, (x1, y1, x2, y2), pid = b[:4]
        w, h = x2 - x1, y2 - y1
        thr = b[4] if len(b) > 4 else min(0.5, w * h / ((w + 10) * (h + 10)))
        anns.append({'id': ann_id, 'image_id': img_id, 'category_id': 1,
                     'iscrowd': 0, 'bbox': [x1, y1, w, h], 'area': w * h,
                     'person_id': pid, 'is_known': pid >= 0,
                     'iou_thresh': thr})
    return {'info': {'dataset': 'test'}, 'categories': [],
            'images': [{'id': i, 'file_name': f'{i}.jpg', 'height': 600,
                        'width': 800, 'cam_id': c}
                       for i, c in images.items()],
            'annotations': anns}


def make_set(queries, gallery=None, exclude_query_image=False, camera=None,
             name='T'):
    """queries: [(ann_id, img_id, pid, own_gallery or None)]."""
    return {'name': name, 'ann_file': 'test.json', 'gallery': gallery,
            'exclude_query_image': exclude_query_image, 'camera': camera,
            'queries': [dict({'ann_id': a, 'image_id': i, 'person_id': p},
                             **({'gallery': g} if g is not None else {}))
                        for a, i, p, g in queries]}


def dets(*items):
    """Gallery prediction from (box x1y1x2y2, score, sim) items (1-d
    embedding = sim, so that sim = dot([1], [sim]))."""
    if not items:
        return {'bboxes': np.zeros((0, 4), np.float32),
                'scores': np.zeros(0, np.float32),
                'embeddings': np.zeros((0, 1), np.float32)}
    return {'bboxes': np.array([i[0] for i in items], np.float32),
            'scores': np.array([i[1] for i in items], np.float32),
            'embeddings': np.array([[i[2]] for i in items], np.float32)}


def to_pairs(rset, gallery, queries):
    """Pair-form predictions whose sims are the dot products."""
    pairs = {}
    for q in range(len(rset)):
        ann_id = int(rset.query_ann_ids[q])
        for g in rset.gallery_image_ids(q).tolist():
            d = gallery[g]
            pairs[(ann_id, g)] = {
                'bboxes': d['bboxes'], 'scores': d['scores'],
                'sims': d['embeddings'] @ np.asarray(queries[ann_id])}
    return pairs


def run(ann, set_dict, gallery, queries=None, legacy=True, det_thresh=0.5,
        check_pairs=True):
    """Fast + reference (+ pair form); checks they agree; returns fast."""
    anns = PersonSearchAnnotations(ann)
    rset = RetrievalSet(set_dict, anns)
    if queries is None:
        queries = {q['ann_id']: np.array([1.0], np.float32)
                   for q in set_dict['queries']}
    kw = dict(legacy=legacy, det_thresh=det_thresh)
    fast = eval_search(rset, gallery, queries, **kw)
    ref = eval_search_reference(rset, gallery, queries, **kw)
    results = [ref]
    if check_pairs:
        pairs = to_pairs(rset, gallery, queries)
        results += [eval_search(rset, pairs=pairs, **kw),
                    eval_search_reference(rset, pairs=pairs, **kw)]
    for other in results:
        np.testing.assert_allclose(fast.ap, other.ap, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(fast.first_rank, other.first_rank)
        np.testing.assert_array_equal(fast.gt_count, other.gt_count)
        np.testing.assert_array_equal(fast.count_tp, other.count_tp)
        np.testing.assert_array_equal(fast.valid, other.valid)
    return fast


PERSON = (0, 0, 100, 200)  # w 100, h 200: iou_thresh = 0.5
BG = (500, 0, 600, 200)  # IoU 0 with PERSON


# --------------------------------------------------------------------------
# retrieval: hand-computed cases


def test_score_threshold_excludes_detection():
    ann = make_ann({1: -1, 2: -1, 3: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8)])
    s = make_set([(0, 1, 7, [2, 3])])
    gallery = {
        1: dets((PERSON, 0.9, 1.0)),
        # the only detection on the person scores 0.49 < 0.5: dropped, so
        # image 2 only has a background detection
        2: dets((PERSON, 0.49, 0.9), (BG, 0.9, 0.3)),
        3: dets((PERSON, 0.8, 0.5)),
    }
    r = run(ann, s, gallery)
    # gt_count 1 (image 2), no true positive -> AP 0, top-1 0
    assert r.gt_count.tolist() == [1] and r.count_tp.tolist() == [0]
    assert r.mAP == 0.0 and r.top(1) == 0.0
    # at det_thresh 0.45 the detection is kept: ranked first (0.9 > 0.5 >
    # 0.3) and a true positive -> AP = 1 * 1/1 = 1
    r = run(ann, s, gallery, det_thresh=0.45)
    assert r.mAP == pytest.approx(1.0) and r.top(1) == 1.0


def test_gt_count_counts_image_without_detections():
    ann = make_ann({1: -1, 2: -1, 3: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 7)])
    s = make_set([(0, 1, 7, [2, 3])])
    gallery = {2: dets((PERSON, 0.9, 0.8), (BG, 0.9, 0.2)),
               3: dets((PERSON, 0.3, 0.9)),  # nothing kept in image 3
               1: dets()}
    r = run(ann, s, gallery)
    # gt_count = 2 (images 2 and 3), count_tp = 1; ranking 0.8 (TP), 0.2:
    # sklearn AP = 1, times recall 1/2 -> 0.5
    assert r.gt_count.tolist() == [2] and r.count_tp.tolist() == [1]
    assert r.ap[0] == pytest.approx(0.5)
    assert r.top(1) == 1.0


def test_only_first_detection_by_similarity_is_tp():
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, PERSON, 7)])
    s = make_set([(0, 1, 7, [2])])
    det_a = (0, 0, 100, 120)  # IoU 12000 / 20000 = 0.6
    det_b = (0, 0, 100, 190)  # IoU 19000 / 20000 = 0.95 (higher IoU)
    assert legacy_iou(det_a, PERSON) == pytest.approx(0.6)
    assert legacy_iou(det_b, PERSON) == pytest.approx(0.95)
    gallery = {2: dets((BG, 0.9, 0.95), (det_a, 0.9, 0.9), (det_b, 0.9, 0.7)),
               1: dets()}
    r = run(ann, s, gallery)
    # by sim: BG 0.95 (F), A 0.9 (T: first with IoU >= 0.5), B 0.7 (F even
    # though its IoU is higher) -> AP = precision at A = 1/2. (B as TP
    # instead would give 1/3; both as TP 7/12 with count_tp 2.)
    assert r.count_tp.tolist() == [1]
    assert r.ap[0] == pytest.approx(0.5)
    assert r.first_rank.tolist() == [1]


def test_iou_thresh_from_json_is_used():
    small = (0, 0, 10, 20)  # w 10, h 20: min(0.5, 200 / (20 * 30)) = 1/3
    det = (0, 0, 10, 9)  # IoU 90 / 200 = 0.45
    assert legacy_iou(det, small) == pytest.approx(0.45)
    gallery = {2: dets((det, 0.9, 0.9), (BG, 0.9, 0.5)), 1: dets()}
    s = make_set([(0, 1, 7, [2])])
    # thresh computed in the JSON: 1/3 -> IoU 0.45 matches -> AP 1
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, small, 7)])
    assert ann['annotations'][1]['iou_thresh'] == pytest.approx(1 / 3)
    assert run(ann, s, gallery).ap[0] == pytest.approx(1.0)
    # the JSON value is what counts: an annotation saying 0.5 -> no match
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, small, 7, 0.5)])
    assert run(ann, s, gallery).ap[0] == 0.0


def test_ap_is_scaled_by_recall():
    ann = make_ann({i: -1 for i in range(1, 6)},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 7),
                    (3, 4, PERSON, 7), (4, 5, PERSON, 8)])
    s = make_set([(0, 1, 7, [2, 3, 4, 5])])
    gallery = {1: dets(),
               2: dets((PERSON, 0.9, 0.9)),  # TP
               3: dets((PERSON, 0.9, 0.5)),  # TP
               4: dets((BG, 0.9, 0.7)),  # person missed
               5: dets((PERSON, 0.9, 0.6))}  # another person
    r = run(ann, s, gallery)
    # ranking 0.9 T, 0.7 F, 0.6 F, 0.5 T: sklearn AP = 1/2 * 1/1 +
    # 1/2 * 2/4 = 0.75; recall 2/3 -> AP = 0.5
    assert r.gt_count.tolist() == [3] and r.count_tp.tolist() == [2]
    assert r.ap[0] == pytest.approx(0.5)
    assert average_precision([1, 0, 0, 1], [0.9, 0.7, 0.6, 0.5]) == \
        pytest.approx(0.75)


def test_duplicate_gallery_entry_legacy_vs_corrected():
    ann = make_ann({1: -1, 2: -1, 3: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8)])
    s = make_set([(0, 1, 7, [2, 3, 2])])  # image 2 listed twice
    gallery = {1: dets(), 2: dets((PERSON, 0.9, 0.8)),
               3: dets((PERSON, 0.9, 0.9))}
    # ranking 0.9 F (image 3), 0.8 T (image 2, processed once): sklearn
    # AP = 1/2. legacy gt_count = 2 (counted per listing) -> AP 1/4
    r = run(ann, s, gallery, legacy=True)
    assert r.gt_count.tolist() == [2] and r.num_dets.tolist() == [2]
    assert r.ap[0] == pytest.approx(0.25)
    # corrected: counted once -> AP 1/2
    r = run(ann, s, gallery, legacy=False)
    assert r.gt_count.tolist() == [1]
    assert r.ap[0] == pytest.approx(0.5)
    assert r.top(1) == 0.0 and r.top(5) == 1.0


def test_repeated_person_in_image_uses_first_box():
    second = (300, 0, 400, 200)
    ann = make_ann({1: -1, 2: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 2, second, 7)])
    s = make_set([(0, 1, 7, [2])])
    gallery = {1: dets(),
               2: dets((second, 0.9, 0.9), (BG, 0.9, 0.6),
                       (PERSON, 0.9, 0.4))}
    # legacy: only the first box (PERSON) is the GT: ranking 0.9 F (on the
    # second box), 0.6 F, 0.4 T -> AP = 1/3 * 1/1
    r = run(ann, s, gallery, legacy=True)
    assert r.gt_count.tolist() == [1] and r.count_tp.tolist() == [1]
    assert r.ap[0] == pytest.approx(1 / 3)
    assert r.top(1) == 0.0
    # corrected: both boxes are GT (gt_count 2): 0.9 T, 0.6 F, 0.4 T ->
    # AP = 1/2 * 1 + 1/2 * 2/3 = 5/6, recall 2/2
    r = run(ann, s, gallery, legacy=False)
    assert r.gt_count.tolist() == [2] and r.count_tp.tolist() == [2]
    assert r.ap[0] == pytest.approx(5 / 6)
    assert r.top(1) == 1.0


def test_query_without_positive_counts_as_zero():
    ann = make_ann({1: -1, 2: -1, 3: -1, 4: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8),
                    (3, 4, PERSON, 9)])
    s = make_set([(0, 1, 7, [2, 4]), (2, 3, 8, [2, 4])])  # 8 nowhere
    gallery = {1: dets(), 3: dets(), 2: dets((PERSON, 0.9, 0.9)),
               4: dets((PERSON, 0.9, 0.1))}
    r = run(ann, s, gallery, legacy=True)
    # query 0: AP 1; query 2: gt_count 0 -> AP 0, still in the mean
    assert r.ap.tolist() == pytest.approx([1.0, 0.0])
    assert r.mAP == pytest.approx(0.5) and r.top(1) == pytest.approx(0.5)
    # corrected: the query without GT is left out (and reported)
    r = run(ann, s, gallery, legacy=False)
    assert r.mAP == pytest.approx(1.0) and r.num_excluded == 1
    assert r.summary()['num_excluded'] == 1


def test_topk():
    ann = make_ann({i: -1 for i in range(1, 5)},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8),
                    (3, 4, PERSON, 8)])
    # query 0: TP at rank 3 (two background detections above it);
    # query 2: TP at rank 7 (six above)
    g2 = [((500 + 10 * k, 0, 600, 200), 0.9, 0.9 - 0.01 * k) for k in
          range(2)] + [(PERSON, 0.9, 0.5)]
    g4 = [((500 + 10 * k, 0, 600, 200), 0.9, 0.9 - 0.01 * k) for k in
          range(6)] + [(PERSON, 0.9, 0.5)]
    gallery = {1: dets(), 3: dets(), 2: dets(*g2), 4: dets(*g4)}
    s = make_set([(0, 1, 7, [2]), (2, 3, 8, [4])])
    r = run(ann, s, gallery)
    assert r.first_rank.tolist() == [2, 6]
    # top-1: none; top-5: query 0 only; top-10: both
    assert (r.top(1), r.top(5), r.top(10)) == (0.0, 0.5, 1.0)
    np.testing.assert_allclose(r.cmc(8),
                               [0, 0, .5, .5, .5, .5, 1, 1])
    # AP: 1/3 and 1/7 (precision at the single TP)
    assert r.ap.tolist() == pytest.approx([1 / 3, 1 / 7])


def test_ties_use_stable_order():
    ann = make_ann({1: -1, 2: -1, 3: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8)])
    # image 3 (listed first) has a background detection with the same sim
    # as the TP of image 2: the stable order puts image 3's first -> TP at
    # rank 1; AP groups ties: precision at threshold 0.5 = 1/2
    s = make_set([(0, 1, 7, [3, 2])])
    gallery = {1: dets(), 2: dets((PERSON, 0.9, 0.5)),
               3: dets((BG, 0.9, 0.5))}
    r = run(ann, s, gallery)
    assert r.first_rank.tolist() == [1] and r.top(1) == 0.0
    assert r.ap[0] == pytest.approx(0.5)
    # listed the other way round: TP first
    s = make_set([(0, 1, 7, [2, 3])])
    r = run(ann, s, gallery)
    assert r.first_rank.tolist() == [0] and r.top(1) == 1.0
    assert r.ap[0] == pytest.approx(0.5)


def test_gallery_expansion_exclude_query_image_and_camera():
    ann = make_ann({10: 1, 11: 1, 12: 2, 13: 2},
                   [(0, 10, PERSON, 7), (1, 11, PERSON, 8),
                    (2, 12, PERSON, 7), (3, 13, PERSON, 9)])
    anns = PersonSearchAnnotations(ann)
    shared = [10, 11, 12, 13]

    def gal(**kw):
        q = kw.pop('own', None)
        rs = RetrievalSet(make_set([(0, 10, 7, q)], gallery=shared, **kw),
                          anns)
        return rs.gallery_image_ids(0).tolist()

    assert gal() == [10, 11, 12, 13]
    assert gal(exclude_query_image=True) == [11, 12, 13]
    assert gal(camera='same') == [10, 11]  # query image kept (reference)
    assert gal(camera='same', exclude_query_image=True) == [11]
    assert gal(camera='cross') == [12, 13]
    # own list first, as listed (duplicates and the query image kept), then
    # the shared images not in it
    assert gal(own=[13, 10, 13], exclude_query_image=True) == \
        [13, 10, 13, 11, 12]
    # no shared gallery: the own list only
    rs = RetrievalSet(make_set([(0, 10, 7, [12, 12])]), anns)
    assert rs.gallery_image_ids(0).tolist() == [12, 12]

    # same camera with the query image kept: the query's own box is found
    # there (rank 0), the cross-camera image 12 is not in the gallery
    gallery = {10: dets((PERSON, 0.9, 1.0)), 11: dets((PERSON, 0.9, 0.5)),
               12: dets((PERSON, 0.9, 0.9)), 13: dets((BG, 0.9, 0.2))}
    r = run(ann, make_set([(0, 10, 7, None)], gallery=shared, camera='same'),
            gallery)
    # gallery [10, 11]: 1.0 T (query image), 0.5 F -> AP 1 * 1/1
    assert r.gt_count.tolist() == [1] and r.ap[0] == pytest.approx(1.0)
    r = run(ann, make_set([(0, 10, 7, None)], gallery=shared, camera='cross'),
            gallery)
    # gallery [12, 13]: 0.9 T, 0.2 F -> AP 1
    assert r.ap[0] == pytest.approx(1.0) and r.top(1) == 1.0
    r = run(ann, make_set([(0, 10, 7, None)], gallery=shared,
                          exclude_query_image=True), gallery)
    # gallery [11, 12, 13]: 0.9 T (12), 0.5 F, 0.2 F -> AP 1
    assert r.gt_count.tolist() == [1] and r.ap[0] == pytest.approx(1.0)


def test_pair_form_equals_embedding_form_hand_case():
    ann = make_ann({1: -1, 2: -1, 3: -1},
                   [(0, 1, PERSON, 7), (1, 2, PERSON, 7), (2, 3, PERSON, 8)])
    s = make_set([(0, 1, 7, [2, 3])])
    gallery = {1: dets(), 2: dets((PERSON, 0.9, 0.3), (BG, 0.9, 0.6)),
               3: dets((PERSON, 0.9, 0.7))}
    anns = PersonSearchAnnotations(ann)
    rset = RetrievalSet(s, anns)
    queries = {0: np.ones(1, np.float32)}
    emb = eval_search(rset, gallery, queries)
    pr = eval_search(rset, pairs=to_pairs(rset, gallery, queries))
    # 0.7 F, 0.6 F, 0.3 T -> AP 1/3 in both forms
    assert emb.ap[0] == pytest.approx(1 / 3) == pr.ap[0]
    assert emb.extra['mode'] == 'embedding' and pr.extra['mode'] == 'pair'


# --------------------------------------------------------------------------
# detection metric


def _det_case():
    g1, g2 = (0, 0, 100, 200), (200, 0, 300, 200)
    g3, g4 = (0, 0, 50, 100), (0, 0, 100, 200)
    ann = make_ann({1: -1, 2: -1, 3: -1},
                   [(0, 1, g1, 1), (1, 1, g2, -1), (2, 2, g3, -1),
                    (3, 3, g4, 2)])
    gallery = {
        1: dets(((0, 0, 100, 190), 0.9, 0),  # d1: IoU 0.95 with g1
                ((0, 0, 100, 120), 0.8, 0),  # d2: IoU 0.6 with g1
                ((200, 0, 300, 140), 0.6, 0),  # d3: IoU 0.7 with g2
                ((500, 0, 600, 100), 0.7, 0),  # d4: background
                ((200, 0, 300, 200), 0.4, 0)),  # d5: below 0.5, dropped
        2: dets((g3, 0.95, 0)),  # d6: exactly g3 (unlabeled)
        3: dets(),  # g4 (labeled) missed
    }
    return ann, gallery


def test_detection_metric_hand_case():
    ann, gallery = _det_case()
    anns = PersonSearchAnnotations(ann)
    imgs = np.arange(anns.num_images)
    # all people: 4 GT, matched g1 (d1: g1's argmax det, d2 loses), g2 (d3),
    # g3 (d6) -> recall 3/4. Pooled detections: d6 .95 T, d1 .9 T, d2 .8 F,
    # d4 .7 F, d3 .6 T -> AP = (1 + 1 + 3/5) / 3 = 13/15; x recall 3/4
    d = eval_detection(anns, gallery, imgs)
    assert d['num_gt'] == 4 and d['num_tp'] == 3 and d['num_det'] == 5
    assert d['recall'] == pytest.approx(0.75)
    assert d['ap'] == pytest.approx(13 / 15 * 0.75)
    # labeled only: GT g1 and g4; image 2 (unlabeled GT only) is skipped
    # entirely, d6 is not counted; d3 (on the unlabeled g2) becomes a false
    # positive. Pooled: d1 .9 T, d2 .8 F, d4 .7 F, d3 .6 F -> AP 1, recall
    # 1/2 -> 0.5
    d = eval_detection(anns, gallery, imgs, labeled_only=True)
    assert d['num_gt'] == 2 and d['num_tp'] == 1 and d['num_det'] == 4
    assert d['num_images'] == 2
    assert d['recall'] == pytest.approx(0.5) and d['ap'] == pytest.approx(0.5)
    for lab in (False, True):
        assert eval_detection(anns, gallery, imgs, labeled_only=lab) == \
            eval_detection_reference(anns, gallery, anns.img_ids,
                                     labeled_only=lab)


# --------------------------------------------------------------------------
# function API: several sets, files, errors


def _write_dataset(tmp_path, ann, sets):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'retrieval').mkdir()
    ann_file = tmp_path / 'annotations' / 'test.json'
    ann_file.write_text(json.dumps(ann))
    for name, s in sets.items():
        (tmp_path / 'retrieval' / f'{name}.json').write_text(json.dumps(s))
    return str(ann_file)


def test_several_retrieval_sets_in_one_run(tmp_path):
    ann, gallery = _det_case()
    ann['annotations'].append({**ann['annotations'][0], 'id': 9,
                               'image_id': 3, 'person_id': 1})
    # person 1: query box in image 1, also in image 3 (no detection there)
    sets = {'A': make_set([(0, 1, 1, [2, 3])], name='A'),
            'B': make_set([(0, 1, 1, None)], gallery=[1, 2, 3],
                          exclude_query_image=True, name='B')}
    ann_file = _write_dataset(tmp_path, ann, sets)
    for g in gallery.values():
        g['embeddings'] = np.ones_like(g['embeddings'])
    results = {'gallery': gallery, 'queries': {0: np.ones(1, np.float32)}}
    metrics, details = evaluate_person_search(
        results, ann_file, ['A', str(tmp_path / 'retrieval' / 'B.json')],
        return_details=True, outfile_prefix=str(tmp_path / 'out' / 'r'))
    assert set(metrics) == {
        'A/mAP', 'A/top1', 'A/top5', 'A/top10', 'B/mAP', 'B/top1', 'B/top5',
        'B/top10', 'det/AP', 'det/recall', 'det/AP_labeled',
        'det/recall_labeled'}
    # both galleries = images 2, 3 (gt_count 1, image 3 has no detection,
    # no TP) -> AP 0
    assert metrics['A/mAP'] == 0.0 and metrics['B/mAP'] == 0.0
    assert details['A'].gt_count.tolist() == [1]
    # detection on images 1-3 (query image included): as the hand case plus
    # the extra labeled box in image 3 -> 5 GT, 3 matched
    assert metrics['det/recall'] == pytest.approx(3 / 5)
    dump = json.loads((tmp_path / 'out' / 'r.person_search.json').read_text())
    assert dump['sets']['A']['per_query'][0]['ann_id'] == 0


def test_json_results_keys(tmp_path):
    """String keys (results dumped as JSON) and pairs as 'a,b' strings."""
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, PERSON, 7)])
    ann_file = _write_dataset(tmp_path, ann,
                              {'T': make_set([(0, 1, 7, [2])])})
    results = {'gallery': {'1': {'bboxes': [], 'scores': []},
                           '2': {'bboxes': [list(PERSON)], 'scores': [0.9]}},
               'pairs': {'0,2': {'bboxes': [list(PERSON)], 'scores': [0.9],
                                 'sims': [0.3]}}}
    m = evaluate_person_search(json.loads(json.dumps(results)), ann_file,
                               ['T'])
    assert m['T/mAP'] == pytest.approx(1.0)


def test_error_missing_query_embedding():
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, PERSON, 7)])
    rset = RetrievalSet(make_set([(0, 1, 7, [2])], name='G9'),
                        PersonSearchAnnotations(ann))
    gallery = {1: dets(), 2: dets((PERSON, 0.9, 0.5))}
    with pytest.raises(KeyError, match=r'G9.*query embedding.*ann_id 0'):
        eval_search(rset, gallery, {})


def test_error_missing_gallery_prediction():
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, PERSON, 7)])
    rset = RetrievalSet(make_set([(0, 1, 7, [2])], name='G9'),
                        PersonSearchAnnotations(ann))
    with pytest.raises(KeyError, match=r'G9.*gallery prediction.*image id 2'):
        eval_search(rset, {1: dets()}, {0: np.ones(1, np.float32)})
    with pytest.raises(KeyError, match=r'G9.*pair prediction.*ann_id 0.*'
                                       r'image id 2'):
        eval_search(rset, pairs={})


def test_error_empty_gallery():
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, PERSON, 7)])
    rset = RetrievalSet(make_set([(0, 1, 7, [2]), (0, 1, 7, [])],
                                 name='G9'), PersonSearchAnnotations(ann))
    with pytest.raises(ValueError, match=r'G9.*ann_id 0.*empty'):
        eval_search(rset, {1: dets(), 2: dets()}, {0: np.ones(1)})


def test_error_unknown_image_and_wrong_ann_file(tmp_path):
    ann = make_ann({1: -1, 2: -1}, [(0, 1, PERSON, 7), (1, 2, PERSON, 7)])
    anns = PersonSearchAnnotations(ann)
    with pytest.raises(KeyError, match='image id'):
        RetrievalSet(make_set([(0, 1, 7, [5])]), anns)
    s = make_set([(0, 1, 7, [2])])
    s['ann_file'] = 'val.json'
    ann_file = _write_dataset(tmp_path, ann, {'T': s})
    with pytest.raises(ValueError, match='val.json'):
        evaluate_person_search({'queries': {0: [1.0]}, 'gallery': {}},
                               ann_file, ['T'])


# --------------------------------------------------------------------------
# building blocks and random cross-checks


def test_average_precision_matches_sklearn():
    metrics = pytest.importorskip('sklearn.metrics')
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 60))
        y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
        if not y.any():
            y[int(rng.integers(n))] = 1
        s = rng.integers(0, 6, n) / 5 if trial % 2 else rng.random(n)
        s = s.astype(np.float32)
        assert average_precision(y, s) == pytest.approx(
            metrics.average_precision_score(y, s), abs=1e-15)
    assert average_precision([0, 0], [0.1, 0.2]) == 0.0


def test_average_precision_hand_values():
    # ties grouped: one threshold holding 1 TP + 1 FP -> precision 1/2
    assert average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert average_precision([0, 1, 1], [0.9, 0.8, 0.1]) == \
        pytest.approx((1 / 2 + 2 / 3) / 2)


def test_legacy_iou_versions_agree():
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 100, (50, 4))
    a[:, 2:] += a[:, :2]
    b = rng.uniform(0, 100, (60, 4))
    b[:, 2:] += b[:, :2]
    m = legacy_iou_matrix(a, b)
    for i in range(0, 50, 7):
        for j in range(0, 60, 5):
            assert m[i, j] == legacy_iou(a[i], b[j])  # bit-identical
    assert legacy_iou_np(a[:3], a[:3]) == pytest.approx([1, 1, 1])
    assert legacy_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


@pytest.mark.parametrize('quantize', [True, False])
@pytest.mark.parametrize('seed', [0, 1])
def test_fast_matches_reference_on_random_data(quantize, seed):
    pb = make_search_problem(n_images=120, n_persons=40,
                             dim=6 if quantize else 24,
                             gallery_sizes=(15, 50),
                             shared_sets=('all', 'same', 'cross'),
                             seed=seed, quantize=quantize, pairs=True)
    anns = PersonSearchAnnotations(pb['ann'])
    res = pb['results']
    g = GalleryPredictions(res['gallery'], anns)
    n_ties = 0
    for sd in pb['sets'].values():
        rset = RetrievalSet(sd, anns)
        for legacy in (True, False):
            for mode in ('embedding', 'pair'):
                ref = eval_search_reference(rset, res['gallery'],
                                            res['queries'], res['pairs'],
                                            legacy=legacy, mode=mode)
                for kw in (dict(max_chunk_entries=200), dict(),
                           dict(dense_threshold=0.0, backend='numpy'),
                           dict(dense_threshold=2.0)):
                    fast = eval_search(rset, g, res['queries'], res['pairs'],
                                       legacy=legacy, mode=mode, **kw)
                    np.testing.assert_allclose(fast.ap, ref.ap, atol=1e-12,
                                               rtol=0)
                    np.testing.assert_array_equal(fast.first_rank,
                                                  ref.first_rank)
                    np.testing.assert_array_equal(fast.gt_count,
                                                  ref.gt_count)
                    np.testing.assert_array_equal(fast.count_tp,
                                                  ref.count_tp)
                    np.testing.assert_array_equal(fast.num_dets,
                                                  ref.num_dets)
                    assert fast.mAP == pytest.approx(ref.mAP, abs=1e-12)
        if quantize:  # exact sims: ties are frequent and must agree
            s = np.concatenate([v['embeddings'] @ res['queries'][q]
                                for q in list(res['queries'])[:5]
                                for v in res['gallery'].values()])
            n_ties += s.size - np.unique(s).size
    assert not quantize or n_ties > 0
    for lab in (False, True):
        assert eval_detection(anns, g, labeled_only=lab) == \
            eval_detection_reference(anns, res['gallery'], anns.img_ids,
                                     labeled_only=lab)


def test_results_pickle_roundtrip(tmp_path):
    pb = make_search_problem(n_images=40, n_persons=10, dim=8, seed=3)
    path = tmp_path / 'r.pkl'
    path.write_bytes(pickle.dumps(pb['results']))
    anns = PersonSearchAnnotations(pb['ann'])
    rset = RetrievalSet(pb['sets']['G20'], anns)
    a = eval_search(rset, pb['results']['gallery'], pb['results']['queries'])
    r = pickle.loads(path.read_bytes())
    b = eval_search(rset, r['gallery'], r['queries'])
    assert a.mAP == b.mAP


# --------------------------------------------------------------------------
# the mmengine metric (needs the full stack)


def _metric_samples(torch, gallery, queries, pairs=None):
    samples = []
    for img_id, d in gallery.items():
        samples.append({'img_id': img_id, 'pred_instances': {
            'bboxes': torch.from_numpy(d['bboxes']),
            'scores': torch.from_numpy(d['scores']),
            'embeddings': torch.from_numpy(d['embeddings'])}})
    for ann_id, e in queries.items():
        samples.append({'img_id': -1, 'is_query': True,
                        'query_ann_id': ann_id, 'pred_instances': {
                            'embeddings': torch.from_numpy(
                                np.asarray(e, np.float32)[None])}})
    for (ann_id, img_id), d in (pairs or {}).items():
        samples.append({'img_id': img_id, 'query_ann_id': ann_id,
                        'is_query': False, 'pred_instances': {
                            'bboxes': torch.from_numpy(d['bboxes']),
                            'scores': torch.from_numpy(d['scores']),
                            'sims': torch.from_numpy(
                                np.asarray(d['sims'], np.float32))}})
    return samples


def test_metric_class(tmp_path):
    torch = pytest.importorskip('torch')
    pytest.importorskip('mmdet')
    from mmqgn.evaluation import PersonSearchMetric
    from mmqgn.registry import METRICS

    pb = make_search_problem(n_images=60, n_persons=20, dim=16, seed=5,
                             gallery_sizes=(10, 30))
    ann_file = _write_dataset(tmp_path, pb['ann'], pb['sets'])
    res = pb['results']
    metric = METRICS.build(dict(type='PersonSearchMetric', ann_file=ann_file,
                                retrieval_sets=['G10', 'G30']))
    assert isinstance(metric, PersonSearchMetric)
    metric.dataset_meta = {}
    samples = _metric_samples(torch, res['gallery'], res['queries'])
    for i in range(0, len(samples), 7):
        metric.process({}, samples[i:i + 7])
    # stored compactly: float32 numpy, detections kept at score >= 0.5
    g = [r for r in metric.results if r['kind'] == 'gallery']
    assert all(r['embeddings'].dtype == np.float32 for r in g)
    assert all((r['scores'] >= 0.5).all() for r in g)
    out = metric.evaluate(len(samples))
    expected = evaluate_person_search(res, ann_file, ['G10', 'G30'],
                                      print_table=False)
    for k, v in expected.items():
        assert out[f'person_search/{k}'] == pytest.approx(v, abs=1e-12)
    assert 'person_search/det/AP_labeled' in out

    # pair form (sims = dot products) gives the same retrieval numbers
    anns = PersonSearchAnnotations(ann_file)
    pairs = {}
    for name in ('G10', 'G30'):
        pairs.update(to_pairs(RetrievalSet(pb['sets'][name], anns),
                              res['gallery'], res['queries']))
    gal_no_emb = {k: {'bboxes': v['bboxes'], 'scores': v['scores'],
                      'embeddings': v['embeddings']}
                  for k, v in res['gallery'].items()}
    metric = PersonSearchMetric(ann_file, retrieval_sets=('G10', 'G30'),
                                legacy=True)
    samples = _metric_samples(torch, gal_no_emb, {}, pairs)
    metric.process({}, samples)
    out2 = metric.evaluate(len(samples))
    for k in ('G10/mAP', 'G30/mAP', 'G10/top1', 'G30/top5'):
        assert out2[f'person_search/{k}'] == pytest.approx(
            out[f'person_search/{k}'], abs=1e-9)


def test_metric_errors(tmp_path):
    torch = pytest.importorskip('torch')
    pytest.importorskip('mmdet')
    from mmqgn.evaluation import PersonSearchMetric
    pb = make_search_problem(n_images=30, n_persons=10, dim=8, seed=6,
                             gallery_sizes=(10, ))
    ann_file = _write_dataset(tmp_path, pb['ann'], pb['sets'])
    res = pb['results']
    metric = PersonSearchMetric(ann_file, retrieval_sets='G10')
    queries = dict(list(res['queries'].items())[1:])  # one query missing
    samples = _metric_samples(torch, res['gallery'], queries)
    metric.process({}, samples)
    with pytest.raises(KeyError, match='G10.*query embedding'):
        metric.evaluate(len(samples))


def test_metric_results_file_reevaluates_offline(tmp_path):
    torch = pytest.importorskip('torch')
    from mmqgn.evaluation import PersonSearchMetric
    pb = make_search_problem(n_images=40, n_persons=12, dim=8, seed=7,
                             gallery_sizes=(10, ))
    ann_file = _write_dataset(tmp_path, pb['ann'], pb['sets'])
    dump_file = str(tmp_path / 'raw.pkl')
    metric = PersonSearchMetric(ann_file, retrieval_sets='G10',
                                results_file=dump_file)
    samples = _metric_samples(torch, pb['results']['gallery'],
                              pb['results']['queries'])
    metric.process({}, samples)
    online = metric.evaluate(len(samples))
    with open(dump_file, 'rb') as f:
        offline = evaluate_person_search(pickle.load(f), ann_file, ['G10'],
                                         print_table=False)
    assert offline['G10/mAP'] == online['person_search/G10/mAP']
    assert offline['det/AP'] == online['person_search/det/AP']


def test_gallery_sample_without_detections_is_stored():
    from mmqgn.structures import sample_to_record
    rec = sample_to_record({'img_id': 3, 'query_ann_id': -1,
                            'pred_instances': {
                                'bboxes': np.zeros((0, 4), np.float32),
                                'scores': np.zeros(0, np.float32),
                                'embeddings': np.zeros((0, 8), np.float32)}})
    assert rec['kind'] == 'gallery' and rec['embeddings'].shape == (0, 8)
