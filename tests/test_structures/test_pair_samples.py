"""The query-major loop's sample dicts are the metric's input format:
``pair_sample`` / ``empty_pair_sample`` -> ``sample_to_record``."""
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmqgn.structures import empty_pair_sample, pair_sample, sample_to_record


def _predicted():
    sample = DetDataSample(metainfo=dict(img_id=7, query_ann_id=3,
                                         is_query=False))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 20.], [5., 5., 9., 9.]]),
        scores=torch.tensor([0.9, 0.3]),
        sims=torch.tensor([0.2, 0.8]),
        labels=torch.zeros(2, dtype=torch.long),
        embeddings=torch.ones(2, 4))
    return sample


def test_pair_sample_feeds_the_metric_record():
    rec = pair_sample(_predicted())
    assert rec['img_id'] == 7 and rec['query_ann_id'] == 3
    assert set(rec['pred_instances']) == {'bboxes', 'scores', 'sims',
                                          'labels'}  # no embeddings
    out = sample_to_record(rec, det_thresh=0.5)
    assert out['kind'] == 'pair' and out['ann_id'] == 3
    np.testing.assert_array_equal(out['bboxes'], [[0, 0, 10, 20]])
    np.testing.assert_array_equal(out['sims'], np.float32([0.2]))
    # the D7 cut on the similarity keeps the other box
    sim_cut = sample_to_record(rec, det_thresh=0.5, det_score_source='sim')
    np.testing.assert_array_equal(sim_cut['scores'], np.float32([0.3]))


def test_gallery_and_empty_samples():
    gal = sample_to_record(pair_sample(_predicted(), as_gallery=True), 0.5)
    assert gal['kind'] == 'gallery' and 'sims' not in gal
    np.testing.assert_array_equal(gal['scores'], np.float32([0.9]))
    empty = sample_to_record(empty_pair_sample(7, 3), 0.5)
    assert empty['kind'] == 'pair' and empty['bboxes'].shape == (0, 4)
    assert empty['sims'].shape == (0, )
    det = empty_pair_sample(7, -1)
    assert 'sims' not in det['pred_instances']
    assert sample_to_record(det, 0.5)['kind'] == 'gallery'
