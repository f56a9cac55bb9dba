"""QGN with a Gallery Filter Network (QGNWithGFN) and the unguided pass of
QSSEResNet (gfn_seqnext.md §3 on qgn_qeeps.md §1), tiny CPU models."""
import os.path as osp

import pytest
import torch
from mmdet.structures.bbox import bbox2roi
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmqgn.models.backbones.qsse_resnet import QSSE, QSSEResNet
from mmqgn.models.detectors import QGN, QueryGuidedDetector, distinct_scenes
from mmqgn.search import gfn_scores
from mmqgn.registry import DATASETS, MODELS
from mmqgn.utils import register_all_modules
from toy_scenes import SCENES, toy_image, toy_sample

torch.set_num_threads(1)
register_all_modules()

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CFG = osp.join(ROOT, 'configs/qgn/qgn_gfn_tiny_synthetic.py')
LO, HI = 0.2689, 0.7311  # sigmoid(-1), sigmoid(1)
# four distinct scenes; person 0 (red) in all, person 1 (blue) in 1 and 2
SCENES4 = SCENES + [SCENES[1][::-1], SCENES[0][:1]]
# pairs (query scene, index of the query box, gallery scene): the red person
PAIRS = ((0, 0, 1), (2, 0, 3))


def _build(**overrides):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(CFG).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    cfg.gfn.pool_size = 7
    cfg.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    for m in model.modules():  # tiny widths (2C/16 units): no dead fc1s
        if isinstance(m, QSSE):
            torch.nn.init.constant_(m.fc1.bias, 0.1)
    return model


def _sample(scene_idx, query_box=None):
    scene = SCENES4[scene_idx]
    is_query = query_box is not None
    ds = toy_sample([scene[query_box]] if is_query else scene, is_query)
    ds.set_metainfo(dict(img_id=scene_idx, query_ann_id=10 + scene_idx))
    return ds


def _pair_batch(model, training, pairs=PAIRS):
    """Collated pair items through the model's PairDataPreprocessor."""
    batch = dict(inputs=dict(query=[], gallery=[]),
                 data_samples=dict(query=[], gallery=[]))
    for q, box, g in pairs:
        batch['inputs']['query'].append(toy_image(SCENES4[q], q))
        batch['inputs']['gallery'].append(toy_image(SCENES4[g], g))
        batch['data_samples']['query'].append(_sample(q, box))
        batch['data_samples']['gallery'].append(_sample(g))
    return model.data_preprocessor(batch, training)


def _plain_batch(model, scene_ids, query_boxes=None):
    """Plain (non-pair) batch of images; with ``query_boxes`` query
    samples holding one box each."""
    boxes = query_boxes or [None] * len(scene_ids)
    return model.data_preprocessor(
        dict(inputs=[toy_image(SCENES4[i], i) for i in scene_ids],
             data_samples=[_sample(i, b) for i, b in zip(scene_ids, boxes)]),
        False)


def _grad_sum(model, prefix):
    grads = [p.grad.abs().sum() for n, p in model.named_parameters()
             if n.startswith(prefix) and p.grad is not None]
    return float(sum(grads)) if grads else 0.0


# ------------------------------------------------------------ backbone
def test_unguided_pass_is_the_pair_stream_without_qsse():
    kwargs = dict(depth=50, base_channels=16, num_stages=3,
                  strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2, ),
                  norm_eval=False)
    torch.manual_seed(0)
    plain = QSSEResNet(with_qsse=False, **kwargs)
    guided = QSSEResNet(with_qsse=True, **kwargs)
    plain.eval()  # mmdet ResNet.train() returns None
    guided.eval()
    missing = guided.load_state_dict(plain.state_dict(), strict=False)
    assert missing.missing_keys and all('.qsse.' in k
                                        for k in missing.missing_keys)
    g = torch.Generator().manual_seed(1)
    query = torch.randn(2, 3, 96, 64, generator=g)
    gallery = torch.randn(2, 3, 128, 160, generator=g)
    with torch.no_grad():
        out_q, out_g = plain.forward_pair(query, gallery)
        single_g = plain.forward_single(gallery)
        single_q = plain.forward_single(query)
        # the same weights with QSSE: the unguided pass ignores it, the pair
        # pass does not
        guided_g = guided.forward_single(gallery)
        paired_g = guided.forward_pair(query, gallery)[1]
    assert single_g[0].shape == (2, 256, 8, 10)
    torch.testing.assert_close(single_g, out_g, rtol=0, atol=0)
    torch.testing.assert_close(single_q, out_q, rtol=0, atol=0)
    torch.testing.assert_close(guided_g, single_g, rtol=0, atol=0)
    assert not torch.allclose(paired_g[0], single_g[0], atol=1e-3)


# ------------------------------------------------------------ detector
def test_distinct_scenes_drop_query_copies_of_batch_images():
    samples = [_sample(0, 0), _sample(2, 0), _sample(1), _sample(0)]
    # galleries 1 and 0 first; the query copy of image 0 goes
    assert distinct_scenes(samples) == [1, 2, 3]
    assert distinct_scenes([_sample(0, 0), _sample(2, 0), _sample(1),
                            _sample(3)]) == [0, 1, 2, 3]


def test_loss_gfn_reaches_the_gfn_and_the_backbone():
    model = _build()
    assert isinstance(model, QGN) and model.with_gfn
    assert isinstance(model, QueryGuidedDetector) and issubclass(
        QGN, QueryGuidedDetector)
    model.train()
    losses = model(**_pair_batch(model, True), mode='loss')
    assert {'loss_qrpn', 'loss_sim', 'loss_oim', 'loss_gfn'} <= set(losses)
    loss_gfn = losses['loss_gfn']
    assert torch.isfinite(loss_gfn) and loss_gfn > 0
    loss_gfn.backward()
    for prefix in ('gfn.scene_head.', 'gfn.emb_head.', 'gfn.fusion_norm.',
                   'backbone.conv1.', 'backbone.layer3.',
                   'roi_head.reid_head.', 'roi_head.shared_head.'):
        assert _grad_sum(model, prefix) > 0, prefix
    # the unguided pass has no QSSE; the GFN loss touches no pair module
    for prefix in ('qrpn_head.', 'roi_head.qsimnet.', 'roi_head.bbox_head.'):
        assert _grad_sum(model, prefix) == 0, prefix
    assert all(p.grad is None or not p.grad.any()
               for n, p in model.named_parameters() if '.qsse.' in n)


def test_gfn_backbone_grad_switch():
    model = _build(gfn_backbone_grad=False)
    model.train()
    model(**_pair_batch(model, True), mode='loss')['loss_gfn'].backward()
    assert _grad_sum(model, 'backbone.') == 0
    assert _grad_sum(model, 'gfn.') > 0
    assert _grad_sum(model, 'roi_head.reid_head.') > 0


def test_scene_embeddings_do_not_depend_on_the_query():
    model = _build().eval()
    data = _plain_batch(model, [1, 3])
    with torch.no_grad():
        scenes = model.scene_embedding(data['inputs'], data['data_samples'])
        alone = model.scene_embedding(data['inputs'][:1],
                                      data['data_samples'][:1])
        # the pair pass of gallery 1 changes with its query (QSSE) ...
        pair_a = model.extract_pair_feat(
            _pair_batch(model, False, ((0, 0, 1), ))['inputs'])[1][0]
        pair_b = model.extract_pair_feat(
            _pair_batch(model, False, ((2, 1, 1), ))['inputs'])[1][0]
        # ... the scene embedding is that of the unguided pass
        manual = model.gfn.scene_embeddings(
            model.backbone.forward_single(data['inputs'])[0])
    assert scenes.shape == (2, 256)
    torch.testing.assert_close(scenes.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(alone, scenes[:1])
    torch.testing.assert_close(manual, scenes)  # same size: no padding
    assert not torch.allclose(pair_a, pair_b, atol=1e-4)


def test_query_gfn_embeddings_and_scores():
    model = _build().eval()
    query = _plain_batch(model, [0, 2], query_boxes=[0, 1])
    gallery = _plain_batch(model, [1, 3])
    with torch.no_grad():
        persons, scenes = model.query_gfn_embeddings(query['inputs'],
                                                     query['data_samples'])
        x = model.extract_unguided_feat(query['inputs'])
        boxes = model.query_bboxes(query['data_samples'])
        ref = model.roi_head.embed_rois(x, bbox2roi(boxes))
        own = model.scene_embedding(query['inputs'], query['data_samples'])
        gal = model.scene_embedding(gallery['inputs'],
                                    gallery['data_samples'])
        scores = gfn_scores(
            model, dict(embedding=persons[0], scene_embedding=scenes[0]),
            gal)
        direct = model.gfn.score(persons[:1], scenes[:1], gal)[0]
    assert persons.shape == scenes.shape == (2, 256)
    torch.testing.assert_close(persons, ref)
    torch.testing.assert_close(scenes, own)
    assert scores.shape == (2, )
    assert ((scores > LO) & (scores < HI)).all()
    torch.testing.assert_close(scores, direct)


def test_gfn_none_is_plain_qgn():
    model = _build(gfn=None)
    assert isinstance(model, QGN) and not model.with_gfn
    cfg = Config.fromfile(CFG).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    cfg.type = 'QGN'
    cfg.pop('gfn')
    cfg.pop('gfn_backbone_grad')
    torch.manual_seed(0)
    plain = MODELS.build(cfg)
    plain.init_weights()
    for m in plain.modules():
        if isinstance(m, QSSE):
            torch.nn.init.constant_(m.fc1.bias, 0.1)
    a, b = model.state_dict(), plain.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    losses = []
    for m in (model, plain):
        m.train()
        torch.manual_seed(1)
        losses.append(m(**_pair_batch(m, True), mode='loss'))
    assert losses[0].keys() == losses[1].keys()
    assert 'loss_gfn' not in losses[0]
    for key, value in losses[0].items():
        torch.testing.assert_close(value, losses[1][key])
    with pytest.raises(RuntimeError, match='no GFN'):
        model.scene_embedding(torch.zeros(1, 3, 64, 64))


# --------------------------------------------------------------- config
def test_config_builds_and_trains_on_synthetic_pairs(synthetic_root):
    """tools/train.py-style building (no init checkpoint) and two loss
    steps on pair batches of the synthetic CUHK-SYSU."""
    init_default_scope('mmqgn')
    cfg = Config.fromfile(CFG)
    assert cfg.model.type == 'QGNWithGFN' and cfg.model.gfn.pool_size == 14
    assert cfg.model.test_cfg.gfn.filter_thr is None
    assert cfg.test_cfg.type == 'QueryMajorTestLoop'
    cfg.load_from = None
    cfg.model.backbone.init_cfg = None
    cfg.model.gfn.pool_size = 7  # CPU
    cfg.model.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=50)
    cfg.model.train_cfg.rcnn.sampler.num = 32
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = str(synthetic_root / 'CUHK-SYSU') + '/'
    for t in dataset_cfg.pipeline:
        if t['type'] == 'Resize':
            t['scale'] = (192, 144)
    dataset = DATASETS.build(dataset_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for step in range(2):
        batch = pseudo_collate([dataset[2 * step], dataset[2 * step + 1]])
        data = model.data_preprocessor(batch, True)
        assert data['inputs'].shape[0] == 4  # 2 pairs
        losses = model(**data, mode='loss')
        assert torch.isfinite(losses['loss_gfn'])
        total = sum(sum(v) if isinstance(v, list) else v
                    for k, v in losses.items() if 'loss' in k)
        assert torch.isfinite(total)
        optim.zero_grad()
        total.backward()
        optim.step()
    assert model.gfn.lut is not None and len(model.gfn.lut) > 0
