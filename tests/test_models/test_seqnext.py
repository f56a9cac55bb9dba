"""SeqNeXt (no GFN): ConvNeXt split, sequential RoI stages, detector and
configs, on tiny CPU models (gfn_seqnext.md §2)."""
import copy
import importlib
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmqgn.registry import MODELS

convnext_c4 = importlib.import_module('mmqgn.models.backbones.convnext_c4')
seqnext_roi_head = importlib.import_module(
    'mmqgn.models.roi_heads.seqnext_roi_head')
importlib.import_module('mmqgn.models.detectors.seqnext')

from toy_scenes import H, SCALE, SCENES, W  # noqa: F401
from toy_scenes import toy_batch as _batch
from toy_scenes import toy_image as _image  # noqa: F401
from toy_scenes import toy_sample as _sample

ROOT = osp.join(osp.dirname(__file__), '..', '..')
BASE = osp.join(ROOT, 'configs/_base_/models/seqnext_convnext-b.py')
TINY = osp.join(ROOT, 'configs/seqnext/seqnext_tiny_synthetic.py')
DIM = 64  # embedding size of the tiny config

STAGE2_LOSSES = ('loss_cls', 'loss_bbox', 'loss_oim')


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model_cfg(resnet=False):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(TINY).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    if resnet:  # the ResNet-50 C4 layout at base width 16
        c4, c5 = 256, 512
        cfg.backbone = dict(
            type='ResNet', depth=50, base_channels=16, num_stages=3,
            strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ),
            frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=False, style='pytorch')
        cfg.rpn_head.update(in_channels=c4, feat_channels=c4)
        cfg.roi_head.shared_head = dict(
            type='ResLayerC5', depth=50, stage=3, base_channels=16,
            norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
            pool='max')
        cfg.roi_head.bbox_roi_extractor.out_channels = c4
        cfg.roi_head.prop_bbox_head.in_channels = c5
        cfg.roi_head.bbox_head.in_channels = c5
        cfg.roi_head.reid_head.in_channels = (c4, c5)
    return cfg


def _build(cfg=None):
    torch.manual_seed(0)
    model = MODELS.build(cfg if cfg is not None else _model_cfg())
    model.init_weights()
    return model


def _seeded_losses(model, seed=0):
    inputs, samples = _batch()
    torch.manual_seed(seed)
    return model.loss(inputs, samples)


# ------------------------------------------------------------- ConvNeXt
def test_convnext_base_split_channels_and_freezing():
    backbone = convnext_c4.ConvNeXtC4(arch='base')
    head = convnext_c4.ConvNeXtC5Head(arch='base')
    assert backbone.out_channels == 512
    assert (head.in_channels, head.out_channels) == (512, 1024)
    assert len(backbone.stages) == 3 and len(head.stages[3]) == 3
    # no classifier output norm in either part
    assert not any(n.startswith('norm') for n, _ in backbone.named_children())
    assert not any(n.startswith('norm') for n, _ in head.named_children())
    # checkpoint names of mmpretrain ConvNeXt; head = stage 4 only
    assert {n.split('.')[1] for n, _ in head.named_parameters()} == {'3'}
    # stage-4 blocks keep the whole network's drop-path schedule (0.5 max)
    assert head.stages[3][-1].drop_path.drop_prob == pytest.approx(0.5)
    backbone.train()
    for name, p in backbone.named_parameters():
        assert p.requires_grad == (not name.startswith('downsample_layers.0'))
    with torch.no_grad():
        (f4, ) = backbone(torch.rand(1, 3, 64, 32))
        f5 = head(torch.rand(2, 512, 6, 6))
    assert f4.shape == (1, 512, 4, 2)  # stride 16
    assert f5.shape == (2, 1024)


def test_convnext_tiny_arch_dict_stride_and_unpooled_head():
    arch = dict(depths=[1, 1, 1, 1], channels=[16, 32, 64, 128])
    backbone = convnext_c4.ConvNeXtC4(arch=arch, frozen_stem=False)
    head = convnext_c4.ConvNeXtC5Head(arch=arch, pool=None)
    assert all(p.requires_grad for p in backbone.parameters())
    (f4, ) = backbone(torch.rand(2, 3, 96, 64))
    assert f4.shape == (2, 64, 6, 4)
    assert head(torch.rand(3, 64, 7, 7)).shape == (3, 128, 3, 3)


def test_convnext_parts_load_an_mmpretrain_checkpoint(tmp_path):
    arch = dict(depths=[1, 1, 1, 1], channels=[16, 32, 64, 128])
    torch.manual_seed(0)
    full = convnext_c4.ConvNeXt(arch=arch, out_indices=[3])
    ckpt = tmp_path / 'convnext.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in full.state_dict().items()}},
               str(ckpt))
    init = dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
    backbone = convnext_c4.ConvNeXtC4(arch=arch, init_cfg=init)
    head = convnext_c4.ConvNeXtC5Head(arch=arch, init_cfg=init)
    backbone.init_weights()
    head.init_weights()
    img = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        x, feats = img, []
        for i in range(4):  # the full network without its output norm
            x = full.stages[i](full.downsample_layers[i](x))
            feats.append(x)
        assert torch.allclose(backbone(img)[0], feats[2], atol=1e-5)
        assert torch.allclose(head(feats[2]), feats[3].amax(dim=(2, 3)),
                              atol=1e-5)
    for k, v in full.state_dict().items():
        if k.startswith(('downsample_layers.3', 'stages.3')):
            assert torch.equal(head.state_dict()[k], v), k
        elif not k.startswith('norm'):
            assert torch.equal(backbone.state_dict()[k], v), k


# ------------------------------------------------------------------ loss
def test_person_bce_loss_single_logit():
    loss = seqnext_roi_head.PersonBCELoss(loss_weight=2.0)
    logits = torch.tensor([[1.0], [-2.0], [0.5]])
    labels = torch.tensor([0, 1, 1])  # person, background, background
    expected = F.binary_cross_entropy_with_logits(
        logits[:, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(loss(logits, labels, torch.ones(3), 3.0),
                          2 * expected)
    probs = loss.get_activation(logits)
    assert torch.allclose(probs[:, 0], logits[:, 0].sigmoid())
    assert torch.allclose(probs.sum(1), torch.ones(3))
    assert loss.get_accuracy(logits, labels)['acc'] == pytest.approx(200 / 3)


@pytest.mark.parametrize('resnet', [False, True])
def test_loss_keys_and_gradients_reach_all_params(resnet):
    model = _build(_model_cfg(resnet)).train()
    head = model.roi_head
    assert head.prop_bbox_head.fc_cls.out_features == 2  # softmax
    assert head.bbox_head.fc_cls.out_features == 1  # sigmoid
    assert head.bbox_head.fc_reg.out_features == 4  # class-agnostic
    assert head.prop_shared_head is not head.shared_head
    losses = _seeded_losses(model)
    assert set(losses) == {
        'loss_rpn_cls', 'loss_rpn_bbox', 'loss_prop_cls', 'loss_prop_bbox',
        'prop_acc', 'loss_cls', 'loss_bbox', 'acc', 'loss_oim'
    }
    loss, log = model.parse_losses(losses)
    assert all(torch.isfinite(v) for v in log.values())
    loss.backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not missing
    if resnet:  # the frozen conv1 stays frozen
        assert not model.backbone.conv1.weight.requires_grad
    lut = head.reid_head.loss_reid.lut
    assert (lut.abs().sum(1) > 0).tolist() == [True, True, False, False]


def test_stage1_regression_loss_weight_is_10():
    cfg = _model_cfg()
    assert cfg.roi_head.prop_bbox_head.loss_bbox.loss_weight == 10.0
    assert cfg.roi_head.bbox_head.loss_bbox.loss_weight == 1.0
    weighted = _seeded_losses(_build(cfg).train())
    cfg.roi_head.prop_bbox_head.loss_bbox.loss_weight = 1.0
    unit = _seeded_losses(_build(cfg).train())
    assert weighted['loss_prop_bbox'] > 0
    assert torch.allclose(weighted['loss_prop_bbox'],
                          10 * unit['loss_prop_bbox'])
    for key in ('loss_prop_cls', 'loss_cls', 'loss_bbox'):
        assert torch.allclose(weighted[key], unit[key]), key


def test_stage2_runs_on_detached_stage1_boxes():
    model = _build().train()
    head = model.roi_head
    captured = {}
    refine = head.refine_proposals

    def spy(sampling_results, bbox_pred, metas):
        captured['priors'] = [r.priors.clone() for r in sampling_results]
        captured['deltas'] = bbox_pred
        out = refine(sampling_results, bbox_pred, metas)
        captured['boxes'] = [res.bboxes for res in out]
        return out

    head.refine_proposals = spy
    losses = _seeded_losses(model)
    assert captured['deltas'].requires_grad
    for priors, boxes in zip(captured['priors'], captured['boxes']):
        assert not boxes.requires_grad and boxes.shape == priors.shape
        assert not torch.equal(boxes, priors)  # regressed
        assert boxes[:, 0::2].min() >= 0 and boxes[:, 2].max() <= W
        assert boxes[:, 1::2].min() >= 0 and boxes[:, 3].max() <= H
    sum(losses[k] for k in STAGE2_LOSSES).backward()
    stage1 = list(head.prop_shared_head.parameters()) + list(
        head.prop_bbox_head.parameters())
    assert all(p.grad is None for p in stage1)
    assert head.shared_head.parameters().__next__().grad is not None
    assert any(p.grad is not None for p in model.backbone.parameters())


def test_sgd_steps_lower_the_loss():
    """Overfit one batch: the same RoI sampling (seed) at every step."""
    model = _build().train()
    optim = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    inputs, samples = _batch()
    history = []
    for _ in range(10):
        torch.manual_seed(0)
        loss, log = model.parse_losses(
            model.loss(inputs, copy.deepcopy(samples)))
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10)
        optim.step()
        history.append({k: v.item() for k, v in log.items()})
    first, last = history[0], history[-1]
    assert last['loss'] < 0.85 * first['loss'], history
    for key in ('loss_prop_cls', 'loss_prop_bbox', 'loss_cls', 'loss_bbox'):
        assert last[key] < first[key], key


# --------------------------------------------------------------- predict
def _low_threshold_model(cws=True):
    cfg = _model_cfg()
    rcnn = cfg.test_cfg.rcnn
    rcnn.prop.update(score_thr=0.0, max_per_img=20)
    rcnn.update(score_thr=0.0, max_per_img=10, cws=cws)
    return _build(cfg).eval()


def test_predict_gallery_and_query():
    model = _low_threshold_model()
    inputs, samples = _batch()
    samples[1] = _sample(SCENES[1][:1], is_query=True, hbox=True)
    with torch.no_grad():
        gallery, query = model.predict(inputs, samples)
    pred = gallery.pred_instances
    n = len(pred)
    assert 0 < n <= 10
    assert pred.bboxes.shape == (n, 4) and pred.labels.shape == (n, )
    assert pred.embeddings.shape == (n, DIM)
    ori_h, ori_w = gallery.metainfo['ori_shape']
    assert pred.bboxes.min() >= 0
    assert pred.bboxes[:, 2].max() <= ori_w + 1e-3
    assert pred.bboxes[:, 3].max() <= ori_h + 1e-3
    assert pred.bboxes[:, 2].max() > W  # rescaled to original pixels
    assert ((pred.scores > 0) & (pred.scores < 1)).all()
    assert (pred.scores[:-1] >= pred.scores[1:]).all()
    # CWS: unit-norm embeddings times the stage-2 score
    assert torch.allclose(pred.embeddings.norm(dim=1), pred.scores,
                          atol=1e-5)

    qpred = query.pred_instances
    assert len(qpred) == 1 and qpred.embeddings.shape == (1, DIM)
    assert torch.allclose(qpred.bboxes,
                          torch.tensor([[70.0, 15.0, 112.0, 145.0]]) / SCALE)
    assert qpred.scores.tolist() == [1.0]
    assert torch.allclose(qpred.embeddings.norm(dim=1), torch.ones(1))


def test_query_after_a_gallery_is_embedded_on_its_own_image():
    """A query behind a gallery image in one batch: its embedding is pooled
    from its own feature map (it used to come from image 0's)."""
    model = _low_threshold_model(cws=False)
    inputs, samples = _batch()
    samples[1] = _sample(SCENES[1][:1], is_query=True, hbox=True)
    with torch.no_grad():
        _, query = model.predict(inputs, samples, rescale=False)
        x = model.extract_feat(inputs)
        box = query.pred_instances.bboxes
        own = model.roi_head.embed_boxes(tuple(f[1:] for f in x), [box])
        first = model.roi_head.embed_boxes(tuple(f[:1] for f in x), [box])
    torch.testing.assert_close(query.pred_instances.embeddings, own)
    assert not torch.allclose(own, first, atol=1e-3)


def test_predict_embeddings_unit_norm_without_cws_and_thresholds():
    model = _low_threshold_model(cws=False)
    inputs, samples = _batch()
    with torch.no_grad():
        plain = model.predict(inputs[:1], samples[:1])[0].pred_instances
        model.roi_head.test_cfg.cws = True
        cws = model.predict(inputs[:1], samples[:1])[0].pred_instances
    assert torch.allclose(plain.embeddings.norm(dim=1),
                          torch.ones(len(plain)), atol=1e-5)
    assert torch.allclose(cws.embeddings,
                          plain.embeddings * plain.scores[:, None])
    # the config thresholds: every kept stage-2 score is above 0.5
    model.roi_head.test_cfg.update(
        score_thr=0.5, prop=dict(score_thr=0.5, max_per_img=20,
                                 nms=dict(type='nms', iou_threshold=0.4)))
    with torch.no_grad():
        strict = model.predict(inputs[:1], samples[:1])[0].pred_instances
    assert (strict.scores > 0.5).all() and len(strict) <= len(plain)


def test_predict_without_stage1_boxes_is_empty():
    model = _low_threshold_model()
    model.roi_head.test_cfg.prop.score_thr = 1.0  # nothing survives
    inputs, samples = _batch()
    with torch.no_grad():
        (res, ) = model.predict(inputs[:1], samples[:1])
    pred = res.pred_instances
    assert len(pred) == 0 and pred.embeddings.shape == (0, DIM)


# --------------------------------------------------------------- configs
def test_base_config_values():
    cfg = Config.fromfile(BASE).model
    assert cfg.type == 'SeqNeXt'
    assert cfg.backbone.type == 'ConvNeXtC4' and cfg.backbone.arch == 'base'
    assert cfg.backbone.drop_path_rate == 0.5 and cfg.backbone.frozen_stem
    head = cfg.roi_head
    assert head.shared_head.type == 'ConvNeXtC5Head'
    assert head.prop_bbox_head.loss_bbox.loss_weight == 10.0
    assert not head.prop_bbox_head.reg_class_agnostic
    assert head.bbox_head.reg_class_agnostic
    assert head.bbox_head.loss_cls.type == 'PersonBCELoss'
    assert head.reid_head.embed_dim == 2048
    assert head.reid_head.in_channels == (512, 1024)
    rcnn = cfg.test_cfg.rcnn
    assert (rcnn.prop.score_thr, rcnn.prop.nms.iou_threshold,
            rcnn.prop.max_per_img) == (0.5, 0.4, 300)
    assert (rcnn.score_thr, rcnn.nms.iou_threshold,
            rcnn.max_per_img) == (0.5, 0.5, 300)
    assert rcnn.cws
    assert cfg.rpn_head.anchor_generator.ratios == [0.5, 1.0, 2.0]


def test_tiny_config_loads_and_builds():
    cfg = Config.fromfile(TINY)
    assert cfg.custom_imports.imports == ['mmqgn']  # registers everything
    assert cfg.model.backbone.arch == dict(
        depths=[1, 1, 1, 1], channels=[16, 32, 64, 128])
    init_default_scope('mmqgn')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'SeqNeXt'
    assert isinstance(model.roi_head, seqnext_roi_head.SeqNeXtRoIHead)
    assert model.roi_head.reid_head.embed_dim == DIM
