"""OIM detector + PersonSearchRoIHead on tiny CPU models, and the configs."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmqgn.registry import MODELS
from toy_scenes import H, SCALE, SCENES, W  # noqa: F401
from toy_scenes import toy_batch as _batch
from toy_scenes import toy_image as _image
from toy_scenes import toy_sample as _sample

ROOT = osp.join(osp.dirname(__file__), '..', '..')
TINY = osp.join(ROOT, 'configs/oim/oim_tiny_synthetic.py')


def _model_cfg(**reid):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(TINY).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.roi_head.reid_head.update(reid)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    return cfg


def _build(**reid):
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(**reid))
    model.init_weights()
    return model


def _total(model, losses):
    loss, _ = model.parse_losses(losses)
    return loss


def test_loss_keys_finite_and_gradients_reach_all_params():
    model = _build().train()
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {
        'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'acc', 'loss_bbox',
        'loss_oim'
    }
    _, log = model.parse_losses(losses)
    assert all(torch.isfinite(v) for v in log.values())
    _total(model, losses).backward()
    missing = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not missing
    # the LUT holds the labelled people after the step
    lut = model.roi_head.reid_head.loss_reid.lut
    assert (lut.abs().sum(1) > 0).tolist() == [True, True, False, False]


def test_frozen_r50_layout_gradients():
    """The paper layout (frozen stem/res2, frozen BN) at base width 16."""
    cfg = _model_cfg()
    frozen = dict(type='BN', requires_grad=False)
    cfg.backbone.update(frozen_stages=1, norm_cfg=frozen, norm_eval=True)
    cfg.roi_head.shared_head.update(norm_cfg=frozen, norm_eval=True)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    assert not model.backbone.layer1[0].conv1.weight.requires_grad
    assert not any(m.training for m in model.roi_head.shared_head.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))
    inputs, samples = _batch()
    _total(model, model.loss(inputs, samples)).backward()
    assert all(p.grad is not None for p in model.parameters()
               if p.requires_grad)


def test_losses_fall():
    model = _build().train()
    inputs, samples = _batch()
    optim = torch.optim.SGD(model.parameters(), lr=0.002, momentum=0.9)
    history = []
    for _ in range(30):
        losses = model.loss(inputs, copy.deepcopy(samples))
        loss, log = model.parse_losses(losses)
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append({k: v.item() for k, v in log.items()})

    def window(key, part):
        return sum(h[key] for h in part) / len(part)

    first, last = history[:5], history[-5:]
    assert window('loss', last) < 0.75 * window('loss', first), history
    for key in ('loss_rpn_cls', 'loss_cls'):
        assert window(key, last) < window(key, first), key
    assert all(math.isfinite(h['loss_oim']) for h in history)


def _check_instances(pred, dim=256):
    n = len(pred)
    assert pred.bboxes.shape == (n, 4) and pred.scores.shape == (n, )
    assert pred.labels.shape == (n, ) and pred.embeddings.shape == (n, dim)
    return n


def test_predict_gallery_and_query():
    model = _build().eval()
    inputs, samples = _batch()
    query_box = torch.tensor([[70.0, 15.0, 112.0, 145.0]])
    samples[1] = _sample(SCENES[1][:1], is_query=True, hbox=True)
    with torch.no_grad():
        results = model.predict(inputs, samples)
    gallery, query = results[0], results[1]
    assert gallery.metainfo['is_query'] is False
    assert query.metainfo['is_query'] is True
    assert query.metainfo['query_ann_id'] == 11
    assert query.metainfo['img_id'] == 7
    n = _check_instances(gallery.pred_instances)
    assert 0 < n <= model.test_cfg.rcnn.max_per_img
    boxes = gallery.pred_instances.bboxes
    ori_h, ori_w = gallery.metainfo['ori_shape']
    assert boxes.min() >= 0 and boxes[:, 2].max() <= ori_w + 1e-3
    assert boxes[:, 3].max() <= ori_h + 1e-3
    emb = gallery.pred_instances.embeddings
    assert torch.allclose(emb.norm(dim=1), torch.ones(n), atol=1e-5)

    assert _check_instances(query.pred_instances) == 1
    assert torch.allclose(query.pred_instances.bboxes, query_box / SCALE)
    assert torch.allclose(query.pred_instances.embeddings.norm(dim=1),
                          torch.ones(1))
    assert query.pred_instances.scores.tolist() == [1.0]


def test_query_embedding_is_pooled_from_query_box():
    model = _build().eval()
    inputs, samples = _batch()
    for s in samples:
        s.set_metainfo(dict(is_query=True))
    with torch.no_grad():
        both = model.predict(inputs, samples)
        first = model.predict(inputs[:1], samples[:1])
    emb = first[0].pred_instances.embeddings
    assert emb.shape == (2, 256)  # both GT boxes of the first scene
    assert torch.allclose(both[0].pred_instances.embeddings, emb, atol=1e-5)


def test_cws_scales_gallery_embeddings_only():
    cfg = _model_cfg()
    cfg.test_cfg.rcnn.cws = True
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    inputs, samples = _batch()
    samples[1].set_metainfo(dict(is_query=True))
    with torch.no_grad():
        gallery, query = model.predict(inputs, samples)
    pred = gallery.pred_instances
    assert torch.allclose(pred.embeddings.norm(dim=1), pred.scores, atol=1e-5)
    assert torch.allclose(query.pred_instances.embeddings.norm(dim=1),
                          torch.ones(2))


def test_test_step_through_data_preprocessor():
    model = _build().eval()
    imgs = [_image(s, i).to(torch.uint8) for i, s in enumerate(SCENES)]
    samples = [_sample(s, hbox=True) for s in SCENES]
    samples[0].set_metainfo(dict(is_query=True))
    results = model.test_step(dict(inputs=imgs, data_samples=samples))
    assert len(results) == 2
    q = results[0].pred_instances
    assert torch.allclose(q.bboxes, samples[0].gt_instances.bboxes.tensor /
                          SCALE)
    _check_instances(results[1].pred_instances)


@pytest.mark.parametrize('gcat', [True, False])
def test_gcat_switch(gcat):
    model = _build(gcat=gcat).train()
    head = model.roi_head.reid_head
    assert hasattr(head, 'proj_res4') == gcat
    c4, c5 = 256, 512
    if gcat:
        assert head.proj_res4[0].in_features == c4
        assert head.proj_res5[0].weight.shape == (128, c5)
    else:
        assert head.proj_res5[0].weight.shape == (256, c5)
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['loss_oim'])


@pytest.mark.parametrize('name,num_ids,queue', [
    ('oim_r50-c4_cuhk-sysu.py', 5532, 5000),
    # PRW: sized from the training annotations (OIMTableSizeHook)
    ('oim_r50-c4_prw.py', None, 500),
    ('oim_tiny_synthetic.py', 30, 64),
])
def test_configs_load(name, num_ids, queue):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/oim', name))
    oim = cfg.model.roi_head.reid_head.loss_reid
    assert (oim.num_person_ids, oim.queue_size) == (num_ids, queue)
    assert cfg.model.type == 'OIM'
    assert cfg.default_scope == 'mmqgn'
    if name.startswith('oim_r50'):
        assert cfg.model.backbone.init_cfg.checkpoint == \
            'torchvision://resnet50'
        assert cfg.model.backbone.depth == 50
        assert cfg.train_dataloader.batch_size == 2
        assert cfg.train_cfg.max_epochs == 22


def test_r50_config_builds_without_download():
    init_default_scope('mmqgn')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/oim/oim_r50-c4_cuhk-sysu.py')).model
    cfg.backbone.init_cfg = None
    cfg.roi_head.shared_head.init_cfg = None
    model = MODELS.build(cfg)
    assert model.roi_head.shared_head.out_channels == 2048
    assert model.roi_head.reid_head.proj_res4[0].in_features == 1024
    assert model.rpn_head.num_base_priors == 15


def test_tiny_config_builds():
    init_default_scope('mmqgn')
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert model.backbone.base_channels == 16
    assert model.roi_head.reid_head.loss_reid.lut.shape == (30, 256)
