"""GFN attached to OIM / SeqNeXt by config (gfn_seqnext.md §3)."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmqgn.models.detectors import OIM, SeqNeXt
from mmqgn.search import gfn_scores, weight_similarities
from mmqgn.registry import MODELS
from test_oim_detector import SCENES, _batch, _image, _sample

ROOT = osp.join(osp.dirname(__file__), '..', '..')
GFN_TINY = osp.join(ROOT, 'configs/oim/oim_gfn_tiny_synthetic.py')
SEQNEXT_TINY = osp.join(ROOT, 'configs/seqnext/seqnext_tiny_synthetic.py')
LO, HI = 0.2689, 0.7311  # sigmoid(-1), sigmoid(1)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _cfg(path=GFN_TINY, **gfn):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(path).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    if path == SEQNEXT_TINY:
        cfg.type = 'SeqNeXtWithGFN'
        cfg.gfn = dict(type='GalleryFilterNetwork', pool_size=7)
    cfg.gfn.update(gfn)
    return cfg


def _build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _four_scenes():
    """Four training images with distinct ``img_id``. With only two scenes
    the training-mode fusion BN makes every negative cos exactly -1 and
    the loss underflows to 0."""
    scenes = SCENES + [SCENES[1][::-1], SCENES[0][:1]]
    inputs = torch.stack([_image(s, i) for i, s in enumerate(scenes)])
    samples = [_sample(s) for s in scenes]
    for i, s in enumerate(samples):
        s.set_metainfo(dict(img_id=i))
    return (inputs - 110.0) / 40.0, samples


def _gallery_and_query():
    """Batch of a gallery image and a query image (its first GT box)."""
    inputs, samples = _batch()
    samples[1] = _sample(SCENES[1][:1], is_query=True, hbox=True)
    return inputs, samples


def _missing_grads(module):
    return [
        n for n, p in module.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum())
    ]


def test_config_builds_with_copied_heads():
    model = _build(_cfg())
    assert isinstance(model, OIM) and model.with_gfn
    gfn = model.gfn
    assert gfn.pool_size == 14 and gfn.score_temperature == 1.0
    assert gfn.embed_dim == model.roi_head.reid_head.embed_dim == 256
    assert gfn.emb_head.loss_reid is None
    assert model.roi_head.reid_head.loss_reid is not None
    # copies: same structure, no shared parameter
    person_ids = {id(p) for p in model.roi_head.parameters()}
    assert not any(id(p) in person_ids for p in gfn.parameters())
    assert type(gfn.scene_head) is type(model.roi_head.shared_head)


@pytest.mark.parametrize('path', [GFN_TINY, SEQNEXT_TINY])
def test_copied_heads_start_identical_after_init_weights(path):
    """gfn_seqnext.md §3.2: the GFN's scene / embedding heads are copies of
    the person heads and start identical, also after ``init_weights``
    (which draws each module's weights anew), sharing no parameter."""
    model = _build(_cfg(path))
    for src, dst in ((model.roi_head.shared_head, model.gfn.scene_head),
                     (model.roi_head.reid_head, model.gfn.emb_head)):
        own = dst.state_dict()
        state = {k: v for k, v in src.state_dict().items() if k in own}
        assert state.keys() == own.keys()
        assert any(v.is_floating_point() and v.abs().sum() > 0
                   for v in own.values())
        for key, value in state.items():
            assert torch.equal(own[key], value), key
    # a head given in the config is the GFN's own: not overwritten
    cfg = _cfg()
    cfg.gfn.emb_head = dict(type='PersonEmbeddingHead',
                            in_channels=tuple(
                                cfg.roi_head.reid_head.in_channels),
                            embed_dim=256)
    own = _build(cfg)
    assert own.gfn_copied_heads == ('scene_head', )
    assert not torch.equal(own.gfn.emb_head.proj_res5[0].weight,
                           own.roi_head.reid_head.proj_res5[0].weight)


def test_loss_gfn_finite_and_gradients_reach_scene_head_and_backbone():
    model = _build(_cfg()).train()
    inputs, samples = _four_scenes()
    losses = model.loss(inputs, samples)
    assert {'loss_oim', 'loss_rpn_cls', 'loss_cls', 'loss_gfn'} <= set(losses)
    assert torch.isfinite(losses['loss_gfn']) and losses['loss_gfn'] > 0
    losses['loss_gfn'].backward()
    assert not _missing_grads(model.gfn.scene_head)
    assert not _missing_grads(model.gfn.emb_head)
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    # 'batch' query mode: the person path gets gradients too (§3.2)
    assert model.roi_head.reid_head.proj_res5[0].weight.grad.abs().sum() > 0
    # the GFN's LUT is keyed by img_id
    assert len(model.gfn.lut) == 4


def test_predict_carries_scene_embeddings_equal_to_scene_embedding():
    model = _build(_cfg()).eval()
    inputs, samples = _gallery_and_query()
    with torch.no_grad():
        gallery, query = model.predict(inputs, copy.deepcopy(samples))
        direct = model.scene_embedding(inputs, samples)
    for ds, emb in zip((gallery, query), direct):
        assert ds.scene_embedding.shape == (256, )
        assert torch.allclose(ds.scene_embedding.norm(), torch.tensor(1.0))
        assert torch.allclose(ds.scene_embedding, emb, atol=1e-6)
    assert query.pred_instances.embeddings.shape == (1, 256)
    assert len(gallery.pred_instances) > 0
    # the scene embedding needs no detection: single image, no samples
    with torch.no_grad():
        alone = model.scene_embedding(inputs[:1])
    assert torch.allclose(alone[0], direct[0], atol=1e-6)


def test_valid_region_pooling_ignores_padding():
    model = _build(_cfg()).eval()
    inputs, samples = _batch()
    padded = torch.zeros(2, 3, 192, 224)
    padded[:, :, :160, :192] = inputs
    padded[:, :, 160:, :] = 5.0
    padded[:, :, :, 192:] = 5.0
    for s in samples:
        s.set_metainfo(dict(batch_input_shape=(192, 224),
                            pad_shape=(192, 224)))
    with torch.no_grad():
        ref = model.scene_embedding(inputs[:1])
        got = model.scene_embedding(padded, samples)
    assert torch.allclose(got[0], ref[0], atol=1e-5)


@pytest.mark.parametrize('mode', ['combined', 'base', 'image'])
def test_gfn_scores_range_and_weighting(mode):
    model = _build(_cfg(mode=mode)).eval()
    inputs, samples = _gallery_and_query()
    with torch.no_grad():
        gallery, query = model.predict(inputs, samples)
        scores = gfn_scores(model, query, [gallery, query])
    assert scores.shape == (2, )
    assert ((scores >= LO) & (scores <= HI)).all()
    if mode != 'base':  # the query's own scene is the best match
        assert scores[1] == pytest.approx(HI, abs=1e-4)
    # dict records and a (G, D) tensor give the same scores
    record = dict(embedding=query.pred_instances.embeddings[0],
                  scene_embedding=query.scene_embedding)
    tensor = torch.stack([gallery.scene_embedding, query.scene_embedding])
    with torch.no_grad():
        assert torch.allclose(gfn_scores(model.gfn, record, tensor), scores)
    sims = gallery.pred_instances.embeddings @ \
        query.pred_instances.embeddings[0]
    weighted = weight_similarities(sims, scores[0])
    assert torch.allclose(weighted, sims * scores[0])
    per_scene = weight_similarities(torch.ones(2, 3), scores)
    assert torch.allclose(per_scene, scores[:, None].expand(2, 3))


def test_gfn_off_equals_plain_oim():
    cfg = _cfg()
    cfg.gfn = None
    wrapped = _build(cfg)
    assert not wrapped.with_gfn
    plain_cfg = copy.deepcopy(cfg)
    plain_cfg.type = 'OIM'
    plain_cfg.pop('gfn')
    plain = MODELS.build(plain_cfg)
    plain.load_state_dict(wrapped.state_dict())
    inputs, samples = _batch()
    losses = []
    for model in (wrapped, plain):
        model.train()
        torch.manual_seed(1)
        losses.append(model.loss(inputs, copy.deepcopy(samples)))
    assert set(losses[0]) == set(losses[1])
    for key in losses[0]:
        assert torch.allclose(torch.as_tensor(losses[0][key]),
                              torch.as_tensor(losses[1][key])), key
    inputs, samples = _gallery_and_query()
    with torch.no_grad():
        outs = [
            m.eval().predict(inputs, copy.deepcopy(samples))
            for m in (wrapped, plain)
        ]
    for a, b in zip(*outs):
        assert 'scene_embedding' not in a
        assert torch.equal(a.pred_instances.bboxes, b.pred_instances.bboxes)
        assert torch.equal(a.pred_instances.embeddings,
                           b.pred_instances.embeddings)
    with pytest.raises(RuntimeError):
        wrapped.scene_embedding(inputs)


def test_seqnext_with_gfn():
    model = _build(_cfg(SEQNEXT_TINY))
    assert isinstance(model, SeqNeXt)
    assert model.gfn.embed_dim == 64
    model.train()
    inputs, samples = _four_scenes()
    losses = model.loss(inputs, samples)
    assert torch.isfinite(losses['loss_gfn']) and losses['loss_gfn'] > 0
    assert {'loss_prop_cls', 'loss_oim'} <= set(losses)
    losses['loss_gfn'].backward()
    assert not _missing_grads(model.gfn.scene_head)
    model.eval()
    inputs, samples = _gallery_and_query()
    with torch.no_grad():
        gallery, query = model.predict(inputs, samples)
    assert gallery.scene_embedding.shape == (64, )
    assert query.pred_instances.embeddings.shape == (1, 64)
    scores = gfn_scores(model, query, [gallery])
    assert LO <= scores.item() <= HI


def test_proto_detached_gfn_sends_no_gradient_to_the_detector():
    """Proto queries + ``gfn_backbone_grad=False`` (the "detector isolated"
    configs): loss_gfn trains the GFN's own heads and nothing else, so the
    detector receives exactly plain SeqNeXt's gradients."""
    model = _build(_cfg(SEQNEXT_TINY, query_mode='proto'))
    model.gfn_backbone_grad = False
    lut = model.roi_head.reid_head.loss_reid.lut
    lut.copy_(F.normalize(torch.randn(lut.shape), dim=1))
    model.train()
    inputs, samples = _four_scenes()
    loss = model.loss(inputs, samples)['loss_gfn']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    leaked = [
        n for n, p in model.named_parameters()
        if not n.startswith('gfn.') and p.grad is not None
        and p.grad.abs().sum() > 0
    ]
    assert not leaked
    assert not _missing_grads(model.gfn.scene_head)
