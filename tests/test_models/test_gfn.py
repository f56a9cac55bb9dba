"""NT-Xent loss and Gallery Filter Network (gfn_seqnext.md §3)."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmqgn.models.gfn import (GalleryFilterNetwork, SceneLookupTable,
                              person_scene_pairs, scene_scene_pairs,
                              valid_feature_sizes)
from mmqgn.models.losses.nt_xent_loss import NTXentLoss
from mmqgn.registry import MODELS
from mmqgn.search import make_scene_filter, two_phase_predict

torch.set_num_threads(1)

C4, C5, D = 32, 64, 16
SCENE_HEAD = dict(type='ResLayerC5',
                  depth=18,
                  stage=3,
                  base_channels=8,
                  norm_eval=False)
EMB_HEAD = dict(type='PersonEmbeddingHead', in_channels=(C4, C5), embed_dim=D)


def build_gfn(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='GalleryFilterNetwork',
               scene_head=SCENE_HEAD,
               emb_head=EMB_HEAD,
               pool_size=7)
    cfg.update(kwargs)
    gfn = MODELS.build(cfg)

    return gfn


# ------------------------------------------------------------ NT-Xent
def test_nt_xent_hand_computed_2x3():
    sim = torch.tensor([[0.5, 0.2, -0.1], [0.3, 0.9, 0.0]])
    pos = torch.tensor([[1, 0, 0], [0, 1, 1]], dtype=torch.bool)
    neg = torch.tensor([[0, 1, 1], [1, 0, 0]], dtype=torch.bool)
    # t = 0.1: anchor 0, pos 5 vs negs 2, -1: log(1 + e^-3 + e^-6)
    #   = log(1.0522658) = 0.0509458
    # anchor 1, pos 9 vs neg 3: log(1 + e^-6) = 0.0024757
    # anchor 1, pos 0 vs neg 3: log(1 + e^3) = 3.0485874
    # mean over the 3 positive pairs = 3.1020088 / 3 = 1.0340029
    expected = (math.log(1 + math.exp(-3) + math.exp(-6)) +
                math.log(1 + math.exp(-6)) + math.log(1 + math.exp(3))) / 3
    assert expected == pytest.approx(1.0340029, abs=1e-6)
    loss = MODELS.build(dict(type='NTXentLoss', temperature=0.1))(sim, pos,
                                                                  neg)
    assert loss.item() == pytest.approx(expected, abs=1e-5)


def test_nt_xent_edge_cases():
    loss_fn = NTXentLoss(temperature=0.1, loss_weight=2.0)
    sim = torch.tensor([[1000.0, 999.0]], requires_grad=True)
    pos = torch.tensor([[True, False]])
    loss = loss_fn(sim, pos, ~pos)  # no overflow thanks to max-subtraction
    # float32 rounds 999 / 0.1, hence the loose tolerance
    assert loss.item() == pytest.approx(2 * math.log(1 + math.exp(-10)),
                                        rel=1e-2)
    loss.backward()
    assert torch.isfinite(sim.grad).all()
    none = loss_fn(sim, torch.zeros_like(pos), pos)
    assert none.item() == 0 and none.requires_grad
    nan = loss_fn(torch.tensor([[float('nan'), 0.0]]), pos, ~pos)
    assert nan.item() == 0
    emb = loss_fn.forward_embeddings(torch.eye(2), torch.eye(2),
                                     torch.eye(2, dtype=torch.bool))
    assert emb.item() == pytest.approx(2 * math.log(1 + math.exp(-10)),
                                       rel=1e-2)


# --------------------------------------------------------------- pairs
# scenes: s0 {1, unk}, s1 {1, 2}, s2 {3}, s3 {unk}
SCENE_PIDS = [
    torch.tensor([1, -1]),
    torch.tensor([1, 2]),
    torch.tensor([3]),
    torch.tensor([-1])
]
# persons: q0 pid 1 in s0, q1 unknown in s0, q2 pid 2 in s1, q3 pid 3 in s2,
# q4 unknown in s3
PERSON_PIDS = torch.tensor([1, -1, 2, 3, -1])
PERSON_SCENE = torch.tensor([0, 0, 1, 2, 3])


def test_person_scene_pairs_filter_neg():
    pos, neg = person_scene_pairs(PERSON_PIDS, PERSON_SCENE, SCENE_PIDS)
    assert pos.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0],
                            [0, 0, 1, 0], [0, 0, 0, 1]]
    # q1 (unknown, scene s0) must not repel s1, which shares pid 1 with s0
    assert neg.int().tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 1, 1],
                                  [1, 1, 0, 1], [1, 1, 1, 0]]
    _, neg_all = person_scene_pairs(PERSON_PIDS,
                                    PERSON_SCENE,
                                    SCENE_PIDS,
                                    filter_neg=False)
    assert neg_all[1].int().tolist() == [0, 1, 1, 1]
    # generic rule: no unknown person has a negative linked to its scene
    linked = torch.tensor(
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]],
        dtype=torch.bool)
    for q in torch.nonzero(PERSON_PIDS < 0).flatten():
        assert not (neg[q] & linked[PERSON_SCENE[q]]).any()


def test_scene_scene_pairs():
    pos, neg = scene_scene_pairs(SCENE_PIDS)
    assert pos.int().tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0],
                                  [0, 0, 0, 1]]
    assert neg.int().tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 1],
                                  [1, 1, 1, 0]]
    pos, _ = scene_scene_pairs(SCENE_PIDS, include_self_pairs=False)
    assert pos.diagonal().sum() == 0


# ----------------------------------------------------------------- GFN
def test_scene_branch_shapes_gradients_and_copies():
    gfn = build_gfn()
    feats = torch.randn(2, C4, 10, 12, requires_grad=True)
    y = gfn.scene_embeddings(feats, valid_sizes=[(10, 12), (6, 8)])
    assert y.shape == (2, D)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2))
    y.sum().backward()
    assert feats.grad[0].abs().sum() > 0
    # padded cells of image 1 get no gradient
    assert feats.grad[1, :, 6:].abs().sum() == 0
    assert gfn.scene_head.layer4[0].conv1.weight.grad is not None
    # passed-in modules are deep-copied: same values, no shared storage
    head = MODELS.build(SCENE_HEAD)
    emb = MODELS.build(EMB_HEAD)
    copy = GalleryFilterNetwork(scene_head=head, emb_head=emb, pool_size=7)
    w0 = head.layer4[0].conv1.weight
    w1 = copy.scene_head.layer4[0].conv1.weight
    torch.testing.assert_close(w0, w1)
    assert w0.data_ptr() != w1.data_ptr()


def test_pooling_ignores_padding():
    gfn = build_gfn()
    feats = torch.randn(1, C4, 9, 11)
    padded = torch.full((1, C4, 12, 16), 1e3)
    padded[:, :, :9, :11] = feats
    torch.testing.assert_close(gfn.pool_scenes(padded, [(9, 11)]),
                               gfn.pool_scenes(feats))
    assert gfn.pool_scenes(feats).shape == (1, C4, 7, 7)
    # img 300x400 in a 320x416 batch, stride 16 map 20x26
    assert valid_feature_sizes([(300, 400)], (320, 416), (20, 26)) == \
        [(19, 25)]


def test_fusion_shapes_gradients_and_own_scene():
    gfn = build_gfn()
    persons = F.normalize(torch.randn(5, D), dim=1).requires_grad_()
    scenes = F.normalize(torch.randn(4, D), dim=1).requires_grad_()
    z = gfn.fuse(persons, scenes)
    assert z.shape == (4, 5, D)
    z.pow(2).sum().backward()
    assert persons.grad.abs().sum() > 0 and scenes.grad.abs().sum() > 0
    sim = gfn.combined_similarity(persons, scenes, PERSON_SCENE)
    assert sim.shape == (5, 4)
    torch.testing.assert_close(sim[torch.arange(5), PERSON_SCENE],
                               torch.ones(5))


@pytest.mark.parametrize('mode', ['combined', 'base', 'image'])
def test_loss_modes(mode):
    gfn = build_gfn(mode=mode)
    persons = F.normalize(torch.randn(5, D), dim=1).requires_grad_()
    feats = torch.randn(4, C4, 8, 8, requires_grad=True)
    scenes = gfn.scene_embeddings(feats)
    loss = gfn.loss(persons, PERSON_PIDS, PERSON_SCENE, scenes,
                    SCENE_PIDS)['loss_gfn']
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert feats.grad.abs().sum() > 0
    if mode != 'image':
        assert persons.grad.abs().sum() > 0
    empty = gfn.loss(persons[:0], PERSON_PIDS[:0], PERSON_SCENE[:0],
                     scenes[:0], [])['loss_gfn']
    assert empty.item() == 0


def test_combined_loss_matches_pseudo_code():
    gfn = build_gfn()
    persons = F.normalize(torch.randn(5, D), dim=1)
    scenes = F.normalize(torch.randn(4, D), dim=1)
    loss = gfn.loss(persons, PERSON_PIDS, PERSON_SCENE, scenes,
                    SCENE_PIDS)['loss_gfn']
    sim = gfn.combined_similarity(persons, scenes, PERSON_SCENE)
    pos, neg = person_scene_pairs(PERSON_PIDS, PERSON_SCENE, SCENE_PIDS)
    terms = []
    for q, k in pos.nonzero().tolist():
        logits = torch.cat([sim[q, k:k + 1], sim[q][neg[q]]]) / 0.1
        terms.append(-torch.log_softmax(logits, 0)[0])
    torch.testing.assert_close(loss,
                               torch.stack(terms).mean(),
                               atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize('mode', ['combined', 'base', 'image'])
def test_score_range(mode):
    gfn = build_gfn(mode=mode).eval()
    q = F.normalize(torch.randn(3, D), dim=1)
    qs = F.normalize(torch.randn(3, D), dim=1)
    g = torch.cat([qs, -qs, F.normalize(torch.randn(6, D), dim=1)])
    score = gfn.score(q, qs, g)
    assert score.shape == (3, 12)
    lo, hi = 1 / (1 + math.e), 1 / (1 + math.exp(-1))  # 0.2689, 0.7311
    assert (score >= lo - 1e-6).all() and (score <= hi + 1e-6).all()
    if mode == 'image':
        torch.testing.assert_close(score[:, :3].diagonal(),
                                   torch.full((3, ), hi))
        torch.testing.assert_close(score[:, 3:6].diagonal(),
                                   torch.full((3, ), lo))
    if mode == 'combined':
        # the query's own scene scores sigmoid(1)
        torch.testing.assert_close(score[:, :3].diagonal(),
                                   torch.full((3, ), hi))


# ----------------------------------------------------------------- LUT
def make_lut(**kwargs):
    lut = SceneLookupTable(**kwargs)
    table = dict(a=[1, 2], b=[2, 7], c=[9], d=[1], e=[-1], f=[])
    lut.update(list(table), torch.randn(len(table), D),
               [torch.randn(len(p), D) for p in table.values()],
               [torch.tensor(p, dtype=torch.long) for p in table.values()])
    return lut


def test_lut_update_and_p1n1_sampling():
    lut = make_lut(max_sampled_pids=3)
    assert len(lut) == 5  # 'f' has no GT box
    assert lut.entries['a']['pidset'] == {1, 2}
    assert lut.entries['e']['pidset'] == set()
    # batch: 'a' (pids 1, 2; excluded from sampling) and 'x' (pid 3).
    # pid 1 -> pos d, hard neg b (shares pid 2 with 'a');
    # pid 2 -> pos b, hard neg d; pid 3 -> nothing; c and e never.
    for seed in range(5):
        torch.manual_seed(seed)
        keys = lut.sample_keys(
            ['a', 'x'],
            [torch.tensor([1, 2]), torch.tensor([3])])
        assert sorted(keys) == ['b', 'd']
    out = lut.gather(['b', 'd'])
    assert out['persons'].shape == (3, D)
    assert out['person_pids'].tolist() == [2, 7, 1]
    assert out['person_scene'].tolist() == [0, 0, 1]
    assert out['scenes'].shape == (2, D) and len(out['scene_pids']) == 2
    assert lut.gather([]) is None


def test_lut_positive_cap():
    lut = SceneLookupTable(num_pos=1, num_neg=1)
    lut.update(['d', 'g'], torch.randn(2, D), [torch.randn(1, D)] * 2,
               [torch.tensor([1]), torch.tensor([1])])
    keys = lut.sample_keys(['x'], [torch.tensor([1, -1])])
    assert len(keys) == 1 and keys[0] in ('d', 'g')
    lut.num_pos = 2
    assert sorted(lut.sample_keys(['x'], [torch.tensor([1])])) == ['d', 'g']


def test_gfn_loss_with_lut():
    gfn = build_gfn(lut=dict(num_pos=1, num_neg=1))
    persons = F.normalize(torch.randn(5, D), dim=1).requires_grad_()
    scenes = F.normalize(torch.randn(4, D), dim=1).requires_grad_()
    ids = ['s0', 's1', 's2', 's3']
    first = gfn.loss(persons,
                     PERSON_PIDS,
                     PERSON_SCENE,
                     scenes,
                     SCENE_PIDS,
                     image_ids=ids)['loss_gfn']
    assert len(
        gfn.lut) == 4 and not gfn.lut.entries['s0']['scene'].requires_grad
    torch.testing.assert_close(
        first,
        gfn.loss(persons, PERSON_PIDS, PERSON_SCENE, scenes,
                 SCENE_PIDS)['loss_gfn'])
    # a new batch with pid 1 in one scene: the LUT brings s0/s1 (pos) and
    # the loss changes; gradients only reach the batch tensors
    new_p = F.normalize(torch.randn(2, D), dim=1).requires_grad_()
    new_s = F.normalize(torch.randn(2, D), dim=1).requires_grad_()
    loss = gfn.loss(new_p,
                    torch.tensor([1, 3]),
                    torch.tensor([0, 1]),
                    new_s,
                    [torch.tensor([1]), torch.tensor([3])],
                    image_ids=['n0', 'n1'])['loss_gfn']
    assert torch.isfinite(loss) and loss > 0
    no_lut = gfn.loss(new_p, torch.tensor([1, 3]), torch.tensor([0, 1]), new_s,
                      [torch.tensor([1]), torch.tensor([3])])
    assert not torch.allclose(loss, no_lut['loss_gfn'])
    loss.backward()
    assert new_p.grad.abs().sum() > 0 and new_s.grad.abs().sum() > 0
    assert len(gfn.lut) == 6


# ------------------------------------------------- query code (eval BN)
def _nontrivial_bn(gfn):
    g = torch.Generator().manual_seed(3)
    bn = gfn.fusion_norm
    bn.running_mean.copy_(torch.randn(D, generator=g) * 0.3)
    bn.running_var.copy_(torch.rand(D, generator=g) + 0.2)
    bn.weight.data.copy_(torch.randn(D, generator=g))
    bn.bias.data.copy_(torch.randn(D, generator=g) * 0.5)


@pytest.mark.parametrize('mode', ['combined', 'base', 'image'])
def test_query_code_scores_equal_gfn_score(mode):
    from mmqgn.evaluation.functional.gfn_eval import \
        score_from_code as np_score_from_code

    def score_from_code(code, gal):  # the one (numpy) code scorer
        return torch.from_numpy(np_score_from_code(code.numpy(),
                                                   gal.numpy())).float()

    gfn = build_gfn(mode=mode, score_temperature=0.7).eval()
    _nontrivial_bn(gfn)
    g = torch.Generator().manual_seed(4)
    q = torch.randn(3, D, generator=g)  # not unit: normalised inside
    qs = F.normalize(torch.randn(3, D, generator=g), dim=1)
    gal = torch.randn(7, D, generator=g) * 2.0
    with torch.no_grad():
        ref = gfn.score(q, qs, gal)
        code = gfn.query_code(q, qs)
    assert code.shape == (3, 3 * D + 3)
    assert (code[:, -1] == 0.7).all()
    torch.testing.assert_close(score_from_code(code, gal), ref, atol=1e-5,
                               rtol=0)
    got = np_score_from_code(code.numpy(), gal.numpy())
    torch.testing.assert_close(torch.from_numpy(got).float(), ref, atol=1e-5,
                               rtol=0)
    # the scores really depend on the BN affine (combined mode)
    if mode == 'combined':
        gfn.fusion_norm.bias.data.zero_()
        with torch.no_grad():
            assert not torch.allclose(gfn.score(q, qs, gal), ref, atol=1e-3)


@pytest.mark.parametrize('mode', ['combined', 'base', 'image'])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_score_twins_agree_on_random_inputs(mode, seed):
    """The model's score (torch, network form) against the evaluator's
    (numpy, query code) after BN statistics of real training steps."""
    from mmqgn.evaluation.functional import score_from_code
    from mmqgn.evaluation.functional.gfn_code import (CODE_FIELDS,
                                                      code_size, split_code)
    g = torch.Generator().manual_seed(10 + seed)
    gfn = build_gfn(mode=mode, beta=0.1 + 0.3 * seed,
                    score_temperature=0.5 + seed)
    gfn.fusion_norm.momentum = 0.5
    gfn.fusion_norm.weight.data.copy_(torch.randn(D, generator=g))
    gfn.fusion_norm.bias.data.copy_(torch.randn(D, generator=g))
    for _ in range(3):  # running statistics from training-mode fusions
        gfn.fuse(torch.randn(4, D, generator=g), torch.randn(5, D,
                                                             generator=g))
    gfn.eval()
    q = torch.randn(6, D, generator=g) * 3.0
    qs = torch.randn(6, D, generator=g)
    gal = torch.randn(11, D, generator=g)
    with torch.no_grad():
        ref = gfn.score(q, qs, gal)
        code = gfn.query_code(q, qs)
    assert code.shape == (6, code_size(D))
    fields = split_code(code)
    assert tuple(fields) == CODE_FIELDS
    assert [f.shape[1] for f in fields.values()] == [D, D, D, 1, 1, 1]
    assert (fields['alpha'] == gfn.score_temperature).all()
    got = score_from_code(code.numpy(), gal.numpy())
    assert got.shape == (6, 11)
    np.testing.assert_allclose(got, ref.numpy(), atol=2e-6, rtol=0)


def test_code_layout_rejects_bad_sizes():
    from mmqgn.evaluation.functional import score_from_code
    from mmqgn.evaluation.functional.gfn_code import code_dim
    assert code_dim(3 * 5 + 3) == 5
    for size in (3, 4, 3 * 5 + 4):
        with pytest.raises(ValueError, match='3 D \\+ 3 entries'):
            code_dim(size)
    with pytest.raises(ValueError, match='does not match'):
        score_from_code(np.zeros((1, 3 * 4 + 3)), np.ones((2, 5)))


def test_query_mode_validated():
    assert build_gfn().query_mode == 'batch'
    assert build_gfn(query_mode='proto').query_mode == 'proto'
    with pytest.raises(ValueError, match='query_mode'):
        build_gfn(query_mode='oim')


# ------------------------------------ detector: gated predict, proto mode
def _detector(**gfn):
    import os.path as osp

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    init_default_scope('mmqgn')
    root = osp.join(osp.dirname(__file__), '..', '..')
    cfg = Config.fromfile(
        osp.join(root, 'configs/oim/oim_gfn_tiny_synthetic.py')).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    cfg.gfn.update(gfn)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def _three_images():
    """Two gallery scenes and one query image (first box of scene 1)."""
    from toy_scenes import SCENES, toy_image, toy_sample
    inputs = torch.stack([toy_image(SCENES[i], i) for i in (0, 1, 1)])
    samples = [toy_sample(SCENES[0]), toy_sample(SCENES[1]),
               toy_sample(SCENES[1][:1], is_query=True, hbox=True)]
    return (inputs - 110.0) / 40.0, samples


def _predict(model, scene_filter=None):
    import copy
    inputs, samples = _three_images()
    with torch.no_grad():
        return two_phase_predict(model, inputs, copy.deepcopy(samples),
                                 scene_filter)


def test_gated_predict_keep_all_equals_no_filter_and_drop_one():
    model = _detector().eval()
    plain = _predict(model)
    seen = []

    def keep_all(scenes):
        seen.append(scenes)
        return torch.ones(len(scenes), dtype=torch.bool)

    kept = _predict(model, keep_all)
    assert seen[0].shape == (3, 256)
    torch.testing.assert_close(seen[0].norm(dim=1), torch.ones(3))
    for a, b in zip(plain, kept):
        assert 'gfn_skipped' not in a and 'gfn_skipped' not in b
        assert torch.equal(a.scene_embedding, b.scene_embedding)
        for key in ('bboxes', 'scores', 'labels', 'embeddings'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key])
    assert len(plain[0].pred_instances) > 0
    assert len(plain[1].pred_instances) > 0
    # query samples: (1, D) embedding, scene embedding and the query code
    assert plain[2].pred_instances.embeddings.shape == (1, 256)
    assert plain[2].gfn_query.shape == (3 * 256 + 3, )
    assert 'gfn_query' not in plain[0]

    # drop image 0; the filter also says "drop" for the query: ignored
    dropped = _predict(model, lambda s: torch.tensor([False, True, False]))
    skipped = dropped[0]
    assert skipped.gfn_skipped is True
    assert skipped.pred_instances.bboxes.shape == (0, 4)
    assert skipped.pred_instances.scores.shape == (0, )
    assert skipped.pred_instances.labels.shape == (0, )
    assert skipped.pred_instances.embeddings.shape == (0, 256)
    assert torch.equal(skipped.scene_embedding, plain[0].scene_embedding)
    for a, b in zip(plain[1:], dropped[1:]):
        assert 'gfn_skipped' not in b
        for key in ('bboxes', 'scores', 'embeddings'):
            torch.testing.assert_close(a.pred_instances[key],
                                       b.pred_instances[key], atol=1e-5,
                                       rtol=0)
    torch.testing.assert_close(dropped[2].gfn_query, plain[2].gfn_query)
    with pytest.raises(ValueError, match='bool mask'):
        _predict(model, lambda s: torch.ones(2, dtype=torch.bool))

    # threshold filter from the query (test_cfg.gfn.filter_thr): 0 keeps all
    # (scores > 0), above every score skips both gallery images
    assert model.gfn_filter_thr is None
    assert make_scene_filter(model, plain[2]) is None
    model.test_cfg['gfn'] = dict(filter_thr=0.0)
    zero = _predict(model, make_scene_filter(model, plain[2]))
    assert not any('gfn_skipped' in ds for ds in zero)
    assert torch.equal(zero[1].pred_instances.bboxes,
                       kept[1].pred_instances.bboxes)
    high = _predict(model, make_scene_filter(model, plain[2], thr=0.99))
    assert [ds.get('gfn_skipped', False) for ds in high] == [True, True,
                                                             False]


def test_proto_mode_uses_oim_prototypes_without_person_gradient():
    from toy_scenes import SCENES, toy_image, toy_sample
    model = _detector(query_mode='proto', lut=None).train()
    lut = model.roi_head.reid_head.loss_reid.lut
    lut.copy_(F.normalize(torch.randn(lut.shape), dim=1))
    scenes = SCENES + [SCENES[1][::-1], SCENES[0][:1]]
    inputs = (torch.stack([toy_image(s, i) for i, s in enumerate(scenes)]) -
              110.0) / 40.0
    samples = [toy_sample(s) for s in scenes]
    captured = {}
    loss_fn = model.gfn.loss

    def spy(persons, person_pids, person_scene, *args, **kwargs):
        captured.update(persons=persons, pids=person_pids,
                        scene=person_scene)
        return loss_fn(persons, person_pids, person_scene, *args, **kwargs)

    model.gfn.loss = spy
    x = model.extract_feat(inputs)
    loss = model.gfn_loss(x, samples)['loss_gfn']
    # known persons (OIM labels): [0, -1], [1, 0], [0, 1], [0] -> the unknown
    # one is dropped, the rows are the LUT rows of the labels
    labels = torch.tensor([0, 1, 0, 0, 1, 0])
    torch.testing.assert_close(captured['persons'], lut[labels])
    assert captured['scene'].tolist() == [0, 1, 1, 2, 2, 3]
    assert captured['pids'].tolist() == [100, 101, 100, 100, 101, 100]
    assert not captured['persons'].requires_grad
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    reid = [p.grad for p in model.roi_head.parameters() if p.requires_grad]
    assert all(g is None or not g.abs().sum() for g in reid)
    assert model.gfn.scene_head.layer4[0].conv1.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


@pytest.mark.parametrize('backbone_grad', [True, False])
def test_gfn_backbone_grad_switch(backbone_grad):
    """``gfn_backbone_grad=False`` keeps loss_gfn out of the backbone; the
    GFN heads and the person embedding path still learn."""
    from toy_scenes import SCENES, toy_image, toy_sample
    model = _detector(lut=None).train()
    model.gfn_backbone_grad = backbone_grad
    scenes = SCENES + [SCENES[1][::-1], SCENES[0][:1]]
    inputs = (torch.stack([toy_image(s, i) for i, s in enumerate(scenes)]) -
              110.0) / 40.0
    samples = [toy_sample(s) for s in scenes]
    loss = model.loss(inputs, samples)['loss_gfn']
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    grad = model.backbone.conv1.weight.grad
    assert (grad is not None and grad.abs().sum() > 0) == backbone_grad
    assert model.gfn.scene_head.layer4[0].conv1.weight.grad.abs().sum() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.roi_head.reid_head.parameters())
