"""QGN detector (qgn_qeeps.md §1, §7, §8.4, §9.1) on tiny CPU models."""
import math
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes, get_box_tensor
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmqgn.models.backbones.qsse_resnet import QSSE
from mmqgn.models.detectors.qgn import QGN
from mmqgn.models.roi_heads.qgn_roi_head import QGNRoIHead
from mmqgn.registry import MODELS
from mmqgn.structures import sample_to_record
from mmqgn.utils import register_all_modules

register_all_modules()

ROOT = osp.join(osp.dirname(__file__), '..', '..')
QGN_CFG = osp.join(ROOT, 'configs/qgn/qgn_tiny_synthetic.py')
OIM_CFG = osp.join(ROOT, 'configs/oim/oim_tiny_synthetic.py')
H, W = 160, 192  # resized (network input) size; original = 2x
SCALE = 0.5

# two scenes of (x1, y1, x2, y2) in resized pixels, OIM label, body colour;
# person 0 (red) is in both, so the pairs are (scene 0 -> 1) and (1 -> 0).
SCENES = [
    [((16, 20, 56, 140), 0, (220, 40, 40)),
     ((110, 30, 150, 150), -1, (40, 200, 60))],
    [((70, 15, 112, 145), 1, (40, 60, 220)),
     ((140, 35, 178, 150), 0, (220, 40, 40))],
]
LOSSES = {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox',
          'loss_oim'}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _build(with_qsse=True, with_qrpn=True, with_qsimnet=True):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(QGN_CFG).model
    cfg.backbone.update(with_qsse=with_qsse, qsse_init_bias=0.0)
    cfg.update(with_qrpn=with_qrpn, with_qsimnet=with_qsimnet)
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    for m in model.modules():  # tiny widths (2C/16 units): no dead fc1s
        if isinstance(m, QSSE):
            torch.nn.init.constant_(m.fc1.bias, 0.1)
    return model


def _image(scene, seed):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, H, W, generator=g) * 60 + 80
    for (x1, y1, x2, y2), _, colour in scene:
        img[:, y1:y2, x1:x2] = torch.tensor(
            colour, dtype=torch.float).view(3, 1, 1)
        img[:, y1:y1 + 12, x1 + 10:x2 - 10] = 200.0  # a "head"
    return img


def _sample(scene, img_id, query_ann_id, query_box=None):
    """A packed data sample (as PackPersonSearchInputs makes it); a query
    sample has only its query box (index into ``scene``)."""
    is_query = query_box is not None
    people = [scene[query_box]] if is_query else scene
    ds = DetDataSample(
        metainfo=dict(
            img_id=img_id,
            img_shape=(H, W),
            ori_shape=(int(H / SCALE), int(W / SCALE)),
            scale_factor=(SCALE, SCALE),
            flip=False,
            is_query=is_query,
            query_ann_id=query_ann_id))
    labels = torch.tensor([pl for _, pl, _ in people])
    ds.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(
            torch.tensor([b for b, _, _ in people], dtype=torch.float)),
        labels=torch.zeros(len(people), dtype=torch.long),
        person_labels=labels,
        person_ids=labels + 100 * (labels >= 0))
    return ds


def _pair_batch(model, training, pairs=((0, 1), (1, 0))):
    """Collated pair items (PersonSearchPairDataset form) through the
    model's PairDataPreprocessor -> dict(inputs (2B, 3, H, W), samples)."""
    query_idx = {0: 0, 1: 1}  # the red person in each scene
    batch = dict(
        inputs=dict(query=[], gallery=[]),
        data_samples=dict(query=[], gallery=[]))
    for q, g in pairs:
        ann_id = 100 + q
        batch['inputs']['query'].append(_image(SCENES[q], q))
        batch['inputs']['gallery'].append(_image(SCENES[g], g))
        batch['data_samples']['query'].append(
            _sample(SCENES[q], q, ann_id, query_box=query_idx[q]))
        batch['data_samples']['gallery'].append(
            _sample(SCENES[g], g, ann_id))
    return model.data_preprocessor(batch, training)


def _total(losses):
    return sum(sum(v) if isinstance(v, list) else v
               for k, v in losses.items() if 'loss' in k)


SWITCHES = [
    dict(),
    dict(with_qsse=False),
    dict(with_qrpn=False),
    dict(with_qsimnet=False),
]


@pytest.mark.parametrize('switches', SWITCHES,
                         ids=['all', 'no_qsse', 'no_qrpn', 'no_qsimnet'])
def test_loss_keys_finite_and_gradients(switches):
    model = _build(**switches)
    assert isinstance(model, QGN) and isinstance(model.roi_head, QGNRoIHead)
    assert model.with_qrpn == switches.get('with_qrpn', True)
    assert model.with_qsimnet == switches.get('with_qsimnet', True)
    has_qsse = any(isinstance(m, QSSE) for m in model.modules())
    assert has_qsse == switches.get('with_qsse', True)
    model.train()
    losses = model(**_pair_batch(model, True), mode='loss')
    expected = set(LOSSES)
    if model.with_qrpn:
        expected.add('loss_qrpn')
    if model.with_qsimnet:
        expected.add('loss_sim')
    assert {k for k in losses if k.startswith('loss')} == expected
    for key in expected:
        value = losses[key]
        value = sum(value) if isinstance(value, list) else value
        assert torch.isfinite(value), key
    _total(losses).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
    prefixes = ['backbone.layer1']  # trainable: frozen_stages=-1
    if model.with_qrpn:
        prefixes.append('qrpn_head.')
    if model.with_qsimnet:
        prefixes.append('roi_head.qsimnet.')
    if has_qsse:
        prefixes.append('backbone.layer1.0.qsse.')
    for prefix in prefixes:
        grads = [p.grad.abs().sum() for n, p in model.named_parameters()
                 if n.startswith(prefix) and p.grad is not None]
        assert grads, f'no parameter of {prefix} got a gradient'
        assert sum(grads) > 0, prefix
    # a switched-off module has no parameters at all
    for prefix, on in (('qrpn_head.', model.with_qrpn),
                       ('roi_head.qsimnet.', model.with_qsimnet)):
        if not on:
            assert not any(n.startswith(prefix)
                           for n, _ in model.named_parameters()), prefix


def test_qsimnet_targets_follow_the_query_identity():
    model = _build()
    model.train()
    data = _pair_batch(model, True, pairs=((0, 1), ))
    galleries = data['data_samples'][1:]  # one pair: query, gallery
    roi_head = model.roi_head
    gts = [ds.gt_instances for ds in galleries]
    gt_boxes = get_box_tensor(gts[0].bboxes)
    proposals = [InstanceData(bboxes=gt_boxes.clone(),
                              scores=torch.ones(len(gt_boxes)))]
    x = tuple(f[1:] for f in model.extract_feat(data['inputs']))
    sampling = roi_head.sample_proposals(x, proposals, gts, [None])
    targets = roi_head.sim_targets(sampling, gts, torch.tensor([0]))
    pos_labels = gts[0].person_labels[sampling[0].pos_assigned_gt_inds]
    assert targets[:len(pos_labels)].tolist() == (pos_labels == 0).long(
    ).tolist()
    assert targets.sum() > 0 and not targets[len(pos_labels):].any()
    # QRPN targets: the gallery boxes of the query identity only
    target = model.target_instances(gts[0], 0)
    torch.testing.assert_close(target.bboxes, gt_boxes[1:2])


def test_losses_fall():
    model = _build()
    model.train()
    optim = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3)
    data = _pair_batch(model, True)
    history = []
    for _ in range(20):
        losses = model(**data, mode='loss')
        total = _total(losses)
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append({
            k: float((sum(v) if isinstance(v, list) else v).detach())
            for k, v in losses.items() if k.startswith('loss')
        })
    assert all(math.isfinite(v) for h in history for v in h.values())

    def mean(keys, hist):
        return sum(h[k] for h in hist for k in keys) / len(hist)

    # the query-guided losses and the detection scores fall (loss_bbox and
    # loss_oim, which starts at 0 on an empty lookup table, are noisy)
    for key in ('loss_rpn_cls', 'loss_qrpn', 'loss_sim'):
        assert mean([key], history[-5:]) < mean([key], history[:5]), key
    keys = ('loss_rpn_cls', 'loss_qrpn', 'loss_cls', 'loss_sim')
    assert mean(keys, history[-5:]) < 0.7 * mean(keys, history[:5])


@pytest.mark.parametrize('with_qsimnet', [True, False])
def test_predict_pair_form(with_qsimnet):
    model = _build(with_qsimnet=with_qsimnet)
    model.eval()
    data = _pair_batch(model, False)
    with torch.no_grad():
        out = model(**data, mode='predict')
        f_q = model.roi_head.query_embeddings(
            tuple(f[:2] for f in model.extract_feat(data['inputs'])),
            model.query_bboxes(data['data_samples'][:2]))
    assert len(out) == 2
    for b, ds in enumerate(out):
        assert not ds.is_query and ds.query_ann_id == 100 + b
        assert ds.img_id == 1 - b
        pred = ds.pred_instances
        n = len(pred)
        assert 0 < n <= model.test_cfg.rcnn.max_per_img
        assert pred.bboxes.shape == (n, 4)
        assert pred.scores.shape == pred.sims.shape == (n, )
        assert pred.embeddings.shape == (n, 256)
        assert (pred.scores >= 0.01).all()
        # boxes in original pixels (2x the network input)
        assert pred.bboxes[:, 2].max() <= W / SCALE + 1e-3
        assert pred.bboxes[:, 3].max() <= H / SCALE + 1e-3
        assert pred.bboxes[:, 2].max() > W  # rescaled
        if with_qsimnet:  # QSimNet p_same drives the final NMS
            assert ((pred.sims >= 0) & (pred.sims <= 1)).all()
            assert (pred.sims[:-1] >= pred.sims[1:]).all()
        else:  # cosine of the OIM embeddings; NMS on the person score
            torch.testing.assert_close(pred.sims,
                                       pred.embeddings @ f_q[b])
            assert (pred.scores[:-1] >= pred.scores[1:]).all()
        record = sample_to_record(ds.to_dict(), det_thresh=0.0)
        assert record['kind'] == 'pair' and record['ann_id'] == 100 + b
        assert record['sims'].shape == (n, )


def test_oim_state_dict_loads_into_qgn():
    init_default_scope('mmqgn')
    torch.manual_seed(0)
    oim = MODELS.build(Config.fromfile(OIM_CFG).model)
    qgn = MODELS.build(Config.fromfile(QGN_CFG).model)
    result = qgn.load_state_dict(oim.state_dict(), strict=False)
    assert result.unexpected_keys == []
    new = ('.qsse.', 'qrpn_head.', 'roi_head.qsimnet.')
    assert result.missing_keys
    assert all(any(s in k for s in new) for k in result.missing_keys)
    assert any('qrpn_head.' in k for k in result.missing_keys)
    assert any('roi_head.qsimnet.' in k for k in result.missing_keys)
    shared = dict(oim.state_dict())
    for key, value in qgn.state_dict().items():
        if key in shared:
            torch.testing.assert_close(value, shared[key])
    assert Config.fromfile(QGN_CFG).load_from.endswith('.pth')


@pytest.mark.parametrize('with_qsimnet', [True, False])
def test_predict_without_detections(with_qsimnet):
    model = _build(with_qsimnet=with_qsimnet)
    model.eval()
    model.roi_head.test_cfg.score_thr = 1.1  # every person score is below
    with torch.no_grad():
        out = model(**_pair_batch(model, False), mode='predict')
    for ds in out:
        pred = ds.pred_instances
        assert pred.bboxes.shape == (0, 4) and pred.sims.shape == (0, )
        assert sample_to_record(ds.to_dict(), 0.0)['sims'].shape == (0, )


@pytest.mark.parametrize('nms_score', ['sim', 'score'])
def test_final_nms_score_source(nms_score):
    """Two overlapping boxes: NMS keeps the higher p_same ('sim', the
    papers) or the higher person score ('score'); sims rank either way."""
    from mmengine.structures import InstanceData
    head = _build().roi_head.eval()
    head.test_cfg.nms_score = nms_score
    res = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 20.], [1., 0., 11., 20.],
                             [40., 0., 50., 20.]]),
        scores=torch.tensor([0.9, 0.3, 0.8]),
        embeddings=torch.eye(3, 256))
    p_same = torch.tensor([0.2, 0.7, 0.5])
    head.qsimnet.predict = lambda f_q, emb: p_same
    out = head._rank(res, torch.zeros(1, 256))
    kept_first = 1 if nms_score == 'sim' else 0
    assert sorted(out.sims.tolist()) == sorted(
        [p_same[kept_first].item(), 0.5])
    assert len(out) == 2
