"""Post-processing of the SeqNeXt and QGN RoI heads pinned to the values the
hand-written versions (before mmdet's ``multiclass_nms`` / ``regress_by_class``
took over, commit c6db521) gave on fixed random features and proposals; and
:meth:`PersonSearchRoIHead.raw_detections` against mmdet's raw
``predict_bbox`` (``rcnn_test_cfg=None``)."""
import os.path as osp

import pytest
import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmqgn.registry import MODELS
from mmqgn.utils import register_all_modules

register_all_modules()
torch.set_num_threads(1)  # the recorded values are single-threaded

ROOT = osp.join(osp.dirname(__file__), '..', '..')
SEQNEXT = 'configs/seqnext/seqnext_tiny_synthetic.py'
QGN = 'configs/qgn/qgn_tiny_synthetic.py'
H, W = 160, 192
BOX_W = torch.tensor([1.0, 2.0, 3.0, 4.0])  # one number per box

# recorded from the code of c6db521 (see the module docstring)
SEQNEXT_REF = [
    dict(boxes=[791.0714, 310.7201, 1032.2958, 479.6207, 305.8247],
         scores=[0.864147, 0.736249, 0.712617, 0.5612, 0.479458],
         emb=[-0.59517, -1.40394, -0.61966, -1.13577, -2.2909]),
    dict(boxes=[], scores=[], emb=[]),
    dict(boxes=[1187.1583, 1015.5598, 899.1038],
         scores=[0.938387, 0.624717, 0.598315],
         emb=[0.99335, 0.38349, 1.01376]),
]
SEQNEXT_MIN_SIZE_REF = [
    dict(boxes=[791.0714, 1032.2958], scores=[0.864147, 0.712617],
         emb=[-0.59517, -0.61966]),
    dict(boxes=[], scores=[], emb=[]),
    dict(boxes=[1187.1583, 1015.5598], scores=[0.938387, 0.624717],
         emb=[0.99335, 0.38349]),
]
QGN_REF = [
    dict(boxes=[514.3365, 1205.7495, 892.9007, 934.5826, 1081.5194,
                1331.6427, 788.5334, 1210.5391, 1053.4473, 1170.8706,
                875.1695, 942.5848, 1095.8716, 746.321, 1338.0525,
                786.9638, 1221.1516, 1057.3144],
         scores=[0.973747, 0.981451, 0.99549, 0.981826, 0.978705, 0.983175,
                 0.974216, 0.982666, 0.978706, 0.969098, 0.995699, 0.98355,
                 0.981257, 0.96763, 0.977252, 0.991502, 0.97998, 0.970844],
         emb=[-0.03007, 0.25198, 0.77858, 0.59431, 0.12514, -0.43494,
              0.70659, 0.29326, 1.08416, 0.51507, 0.88546, 0.55847,
              0.38152, 1.0224, -0.30137, 0.61644, 0.26298, 1.09115]),
    dict(boxes=[], scores=[], emb=[]),
    dict(boxes=[970.1926, 1060.6876, 1104.759, 1226.5306, 513.1911,
                503.399, 866.8803, 1108.3809, 272.673, 480.7273, 528.621,
                986.0584, 1061.8594, 1100.2634, 780.664, 1222.4006,
                511.7841, 500.219, 880.2023, 1113.9899, 280.7659, 477.6658,
                553.5477],
         scores=[0.981389, 0.983408, 0.973363, 0.991037, 0.968755, 0.993768,
                 0.99311, 0.982569, 0.97256, 0.991221, 0.977962, 0.992045,
                 0.983476, 0.974158, 0.967696, 0.989083, 0.975145, 0.98756,
                 0.992336, 0.989906, 0.97179, 0.988717, 0.974388],
         emb=[1.48826, 2.0943, 1.60751, 1.98822, 1.76711, 1.47256, 1.54537,
              1.77112, 1.78334, 1.55745, 1.5093, 1.26056, 2.05232, 1.62385,
              1.34968, 2.01015, 1.78423, 1.50849, 1.43916, 1.57822, 1.91653,
              1.68474, 1.88278]),
]


def _roi_head(cfg_file, cls_scale, **rcnn_test):
    """The tiny config's RoI head, box logits / deltas scaled up so that the
    scores spread over (0, 1) and thresholds and NMS have work to do."""
    init_default_scope('mmqgn')
    cfg = Config.fromfile(osp.join(ROOT, cfg_file)).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.test_cfg.rcnn.update(rcnn_test)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    for name in ('bbox_head', 'prop_bbox_head'):
        head = getattr(model.roi_head, name, None)
        if head is not None:
            head.fc_cls.weight.data.mul_(cls_scale)
            head.fc_reg.weight.data.mul_(30.0)
    return model.roi_head.eval()


def _inputs(roi_head, seed, counts=(40, 0, 25)):
    """Random C4 maps (3, C4, H/16, W/16), proposals in near-duplicate
    pairs (NMS work) and image metas; the middle image has no proposal."""
    g = torch.Generator().manual_seed(seed)
    c4 = roi_head.bbox_roi_extractor.out_channels
    x = (torch.randn(len(counts), c4, H // 16, W // 16, generator=g), )
    proposals, metas = [], []
    for k in counts:
        xy = torch.rand(k, 2, generator=g) * torch.tensor([W - 40., H - 60.])
        wh = torch.rand(k, 2, generator=g) * torch.tensor([50., 90.]) + 4
        b = torch.cat([xy, xy + wh], 1)
        b[k // 2:] = b[:k - k // 2] + torch.randn(
            k - k // 2, 4, generator=g) * 3
        proposals.append(
            InstanceData(bboxes=b.clamp(min=0), scores=torch.ones(k)))
        metas.append(dict(img_shape=(H, W), scale_factor=(0.5, 0.5),
                          ori_shape=(2 * H, 2 * W)))
    return x, proposals, metas


def _assert_matches(results, reference):
    g = torch.Generator().manual_seed(99)
    assert len(results) == len(reference)
    for res, ref in zip(results, reference):
        assert len(res) == len(ref['scores'])
        assert res.bboxes.shape == (len(res), 4)
        torch.testing.assert_close(res.bboxes @ BOX_W,
                                   torch.tensor(ref['boxes']).view(-1),
                                   atol=2e-3, rtol=0)
        torch.testing.assert_close(res.scores,
                                   torch.tensor(ref['scores']).view(-1),
                                   atol=2e-5, rtol=0)
        v = torch.randn(res.embeddings.shape[1], generator=g)
        torch.testing.assert_close(res.embeddings @ v,
                                   torch.tensor(ref['emb']).view(-1),
                                   atol=2e-4, rtol=0)
        if 'labels' in res:
            assert res.labels.tolist() == [0] * len(res)


def test_seqnext_predict_bbox_equals_the_hand_written_stages():
    head = _roi_head(SEQNEXT, 100.0, score_thr=0.4, max_per_img=9,
                     prop=dict(score_thr=0.3, max_per_img=14))
    x, proposals, metas = _inputs(head, 1)
    with torch.no_grad():
        results = head.predict_bbox(x, metas, proposals, head.test_cfg)
        _assert_matches(results, SEQNEXT_REF)
        # min_bbox_size drops the small boxes before NMS in both stages
        head.test_cfg.update(min_bbox_size=30.0)
        head.test_cfg.prop.update(min_bbox_size=20.0)
        results = head.predict_bbox(x, metas, proposals, head.test_cfg)
    _assert_matches(results, SEQNEXT_MIN_SIZE_REF)
    for res in results:
        wh = res.bboxes[:, 2:] - res.bboxes[:, :2]
        assert (wh >= 30.0).all()


def test_qgn_detect_equals_the_predict_bbox_slicing():
    head = _roi_head(QGN, -4.0, score_thr=0.965)
    x, proposals, metas = _inputs(head, 2)
    samples = [DetDataSample(metainfo=m) for m in metas]
    with torch.no_grad():
        results = head.detect(x, proposals, samples)
    _assert_matches(results, QGN_REF)
    assert all(set(res.keys()) == {'bboxes', 'scores', 'embeddings'}
               for res in results)


@pytest.mark.parametrize('cfg_file,cls_scale', [(QGN, -4.0),
                                                (SEQNEXT, 100.0)])
def test_raw_detections_are_mmdets_raw_predict_bbox(cfg_file, cls_scale):
    """mmdet's ``predict_bbox`` with ``rcnn_test_cfg=None`` gives boxes
    (n_i, 4 C) and probabilities (n_i, C + 1) (softmax for QGN, the
    PersonBCELoss activation for SeqNeXt's stage 2); ``raw_detections`` is
    its person-class part, bit for bit."""
    head = _roi_head(cfg_file, cls_scale)
    x, proposals, metas = _inputs(head, 3)
    with torch.no_grad():
        ref = StandardRoIHead.predict_bbox(head, x, metas, proposals, None)
        got = head.raw_detections([p.bboxes for p in proposals], metas,
                                  head.bbox_head,
                                  lambda rois: head._bbox_forward(x, rois))
    for r, res, p in zip(ref, got, proposals):
        assert res.bboxes.shape == (len(p), 4)
        assert res.scores.shape == (len(p), 2)
        assert torch.equal(res.bboxes, r.bboxes.flatten(1)[:, :4])
        assert torch.equal(res.scores, r.scores)
    assert ((got[0].scores.sum(1) - 1).abs() < 1e-6).all()
