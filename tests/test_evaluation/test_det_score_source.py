"""det_score_source (qgn_qeeps.md D7): which score of a query-guided model's
pair detections the evaluation's det_thresh cut applies to, the detector's
person score ('cls', default: today's behaviour) or the pair similarity
('sim'), on a hand-computed case."""
import numpy as np
import pytest

from mmqgn.evaluation.functional import (PersonSearchAnnotations,
                                         RetrievalSet, eval_search,
                                         eval_search_reference,
                                         evaluate_person_search,
                                         sample_to_record)
from mmqgn.evaluation.metrics import PersonSearchMetric

GT = (100, 100, 200, 300)


def _ann():
    """Query image 0 (person 5), image 1 with person 5 at GT, image 2 with
    an unlabeled person."""
    boxes = [(10, 0, (10, 10, 110, 210), 5), (11, 1, GT, 5),
             (12, 2, (50, 50, 150, 250), -1)]
    anns = [{'id': a, 'image_id': i, 'category_id': 1, 'iscrowd': 0,
             'bbox': [x1, y1, x2 - x1, y2 - y1], 'area': 0, 'person_id': p,
             'is_known': p >= 0, 'iou_thresh': 0.5}
            for a, i, (x1, y1, x2, y2), p in boxes]
    return {'info': {'dataset': 'test'}, 'categories': [],
            'images': [{'id': i, 'file_name': f'{i}.jpg', 'height': 600,
                        'width': 800, 'cam_id': -1} for i in range(3)],
            'annotations': anns}


def _pairs():
    """(box, detector score, pair similarity): the true match has a low
    detector score (0.4) and a high similarity (0.9)."""
    def dets(*items):
        return {'bboxes': np.array([i[0] for i in items], np.float32),
                'scores': np.array([i[1] for i in items], np.float32),
                'sims': np.array([i[2] for i in items], np.float32)}
    return {(10, 1): dets((GT, 0.4, 0.9), ((400, 100, 500, 300), 0.9, 0.3)),
            (10, 2): dets(((50, 50, 150, 250), 0.8, 0.6))}


def _rset():
    anns = PersonSearchAnnotations(_ann())
    return RetrievalSet({'name': 'T', 'queries': [
        {'ann_id': 10, 'image_id': 0, 'person_id': 5, 'gallery': [1, 2]}]},
        anns)


# cls cut at 0.5 keeps the two negatives (sims 0.3, 0.6): no positive, AP 0;
# sim cut keeps the match (0.9) and one negative (0.6), ranked first: AP 1
@pytest.mark.parametrize('source,ap,top1', [('cls', 0.0, 0.0),
                                            ('sim', 1.0, 1.0)])
def test_hand_computed_case(source, ap, top1):
    rset = _rset()
    for fn in (eval_search, eval_search_reference):
        res = fn(rset, pairs=_pairs(), det_thresh=0.5,
                 det_score_source=source)
        assert res.mAP == pytest.approx(ap) and res.top(1) == top1
        assert res.num_dets.tolist() == [2]  # two survive either cut
    metrics = evaluate_person_search(
        {'pairs': _pairs()}, None, retrieval_sets=[('T', rset)],
        annotations=rset.anns, mode='pair', eval_detection=False,
        print_table=False, det_score_source=source)
    assert metrics['T/mAP'] == pytest.approx(ap)
    assert metrics['T/top1'] == top1


def test_default_is_the_detector_score():
    rset = _rset()
    default = eval_search(rset, pairs=_pairs(), det_thresh=0.5)
    cls = eval_search(rset, pairs=_pairs(), det_thresh=0.5,
                      det_score_source='cls')
    assert default.mAP == cls.mAP == 0.0
    assert PersonSearchMetric(ann_file='a.json').det_score_source == 'cls'


def test_records_cut_on_the_chosen_score():
    pred = _pairs()[(10, 1)]
    sample = {'img_id': 1, 'query_ann_id': 10, 'is_query': False,
              'pred_instances': pred}
    cls = sample_to_record(sample, 0.5)
    assert cls['scores'].tolist() == pytest.approx([0.9])
    sim = sample_to_record(sample, 0.5, det_score_source='sim')
    assert sim['sims'].tolist() == pytest.approx([0.9])
    np.testing.assert_array_equal(sim['bboxes'], [GT])
    # gallery (non-pair) records always cut the detector score
    gallery = sample_to_record({'img_id': 1, 'pred_instances': pred}, 0.5,
                               det_score_source='sim')
    assert gallery['scores'].tolist() == pytest.approx([0.9])


def test_unknown_source_is_rejected():
    with pytest.raises(ValueError, match="'cls' .*or 'sim'.*'p_same'"):
        PersonSearchMetric(ann_file='a.json', det_score_source='p_same')
    with pytest.raises(ValueError, match='det_score_source'):
        eval_search(_rset(), pairs=_pairs(), det_score_source='both')
