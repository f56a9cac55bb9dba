"""QSSEResNet, QRPNHead and QSimNet (qgn_qeeps.md §3-5, §12.2, §13)."""
import pytest
import torch
from mmdet.models.backbones import ResNet
from mmdet.models.dense_heads import RPNHead
from mmdet.structures.bbox import bbox_overlaps
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmqgn.models.backbones.qsse_resnet import QSSE, QSSEResNet
from mmqgn.models.dense_heads.qrpn_head import (QRPNHead, fuse_rpn_scores,
                                                jitter_boxes)
from mmqgn.models.reid_heads.qsimnet import QSimNet
from mmqgn.registry import MODELS

C4 = dict(num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1),
          out_indices=(2, ))


def num_params(module, name=None):
    return sum(p.numel() for n, p in module.named_parameters()
               if name is None or name in n)


def assert_all_grads(module):
    for name, p in module.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


# ----------------------------------------------------------------- QSSE ---
@pytest.mark.parametrize('depth,out_ch', [(18, 64), (50, 256)])
def test_qsse_resnet_shapes_and_grads(depth, out_ch):
    net = MODELS.build(dict(type='QSSEResNet', depth=depth, base_channels=16,
                            **C4))
    qsse = [m for m in net.modules() if isinstance(m, QSSE)]
    assert len(qsse) == sum(net.stage_blocks)  # every block up to conv4
    for m in qsse:  # tiny widths (2C/16 = 2 units): no dead fc1 ReLUs
        torch.nn.init.constant_(m.fc1.bias, 1.0)
    query, gallery = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 96, 64)
    (fq, ), (fg, ) = net(query, gallery)
    assert fq.shape == (2, out_ch, 4, 4) and fg.shape == (2, out_ch, 6, 4)
    (fq.mean() + fg.pow(2).mean()).backward()
    assert_all_grads(net)
    # stacked convention: cat([query, gallery]) -> query half first
    net.eval()
    x = torch.randn(4, 3, 64, 64)
    (stacked, ) = net(x)
    (fq, ), (fg, ) = net(x[:2], x[2:])
    torch.testing.assert_close(stacked, torch.cat([fq, fg]))


def test_qsse_one_shared_vector_per_pair():
    net = QSSEResNet(depth=18, base_channels=16, **C4)
    net.eval()
    block = net.layer2[0]  # BasicBlock with downsample, C = 32
    xq, xg = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 12, 8)
    out_q, out_g = block.forward_pair(xq, xg)
    (uq, iq), (ug, ig) = block.residual(xq), block.residual(xg)
    s = block.qsse(uq, ug)
    assert s.shape == (2, 32) and not torch.allclose(s[0], s[1])
    s4 = s[:, :, None, None]
    torch.testing.assert_close(out_q, (iq + s4 * uq).relu())
    torch.testing.assert_close(out_g, (ig + s4 * ug).relu())
    # pairs do not interact: changing gallery 1 leaves pair 0 untouched
    xg2 = xg.clone()
    xg2[1] += 1
    out_q2, out_g2 = block.forward_pair(xq, xg2)
    torch.testing.assert_close(out_q2[0], out_q[0])
    assert not torch.allclose(out_q2[1], out_q[1])


def test_qsse_swap_symmetry():
    """[z_q; z_g] is ordered, so swapping query/gallery is not equivariant in
    general; it is when fc1's query and gallery halves are tied."""
    torch.manual_seed(0)
    net = QSSEResNet(depth=18, base_channels=16, qsse_init_bias=1.0,
                     **C4)
    net.eval()
    for m in net.modules():
        if isinstance(m, QSSE):
            torch.nn.init.normal_(m.fc2.weight, 0, 1.0)
    a, b = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        (qa, ), (gb, ) = net(a, b)
        (qb, ), (ga, ) = net(b, a)
        assert not torch.allclose(qa, ga, atol=1e-5)
        (qs, ), (gs, ) = net(a, a)  # identical images -> identical streams
        torch.testing.assert_close(qs, gs)
        for m in net.modules():
            if isinstance(m, QSSE):
                c = m.fc2.out_features
                m.fc1.weight[:, c:] = m.fc1.weight[:, :c]
        (qa, ), (gb, ) = net(a, b)
        (qb, ), (ga, ) = net(b, a)
    torch.testing.assert_close(qa, ga)
    torch.testing.assert_close(gb, qb)


@pytest.mark.parametrize('depth', [18, 50])
def test_without_qsse_equals_mmdet_resnet(depth):
    cfg = dict(depth=depth, base_channels=16, out_indices=(1, 3))
    plain = ResNet(**cfg)
    plain.eval()
    siamese = QSSEResNet(with_qsse=False, **cfg)
    siamese.eval()
    siamese.load_state_dict(plain.state_dict(), strict=True)
    assert not any(isinstance(m, QSSE) for m in siamese.modules())
    query, gallery = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 96, 64)
    with torch.no_grad():
        outs_q, outs_g = siamese(query, gallery)
        for ours, ref in zip(outs_q + outs_g, plain(query) + plain(gallery)):
            torch.testing.assert_close(ours, ref)
    # with QSSE: the same checkpoint keys plus the QSSE layers only
    missing = QSSEResNet(**cfg).load_state_dict(
        plain.state_dict(), strict=False).missing_keys
    assert missing and all('.qsse.fc' in k for k in missing)


def test_qsse_param_count_table5():
    """QGN Table 5: ResNet-18 11.28 M -> 11.54 M with QSSE in all 8 blocks;
    qgn_qeeps.md §13.1: 3C^2/8 weights per block = 261,120 (r = 16)."""
    plain = QSSEResNet(depth=18, with_qsse=False)
    qsse = QSSEResNet(depth=18)
    weights = num_params(qsse, 'qsse.fc1.weight') + num_params(
        qsse, 'qsse.fc2.weight')
    assert weights == 2 * sum(3 * c * c // 8 for c in (64, 128, 256, 512))
    assert weights == 261_120
    biases = 2 * sum(c // 8 + c for c in (64, 128, 256, 512))
    delta = num_params(qsse) - num_params(plain)
    assert delta == weights + biases == 263_280
    assert round(delta / 1e6, 2) == pytest.approx(11.54 - 11.28)
    # ResNet-50 C4 (13 bottlenecks, res2-res4), §13.1: 2,826,240 weights
    r50 = QSSEResNet(depth=50, **C4)
    assert num_params(r50, 'qsse.fc1.weight') + num_params(
        r50, 'qsse.fc2.weight') == 2_826_240


# ----------------------------------------------------------------- QRPN ---
def tiny_qrpn(**kwargs):
    train_cfg = dict(
        assigner=dict(type='QRPNAssigner', pos_iou_thr=0.6, neg_iou_thr=0.3),
        sampler=dict(type='RandomSampler', num=128, pos_fraction=0.5,
                     neg_pos_ub=-1, add_gt_as_proposals=False),
        allowed_border=-1, pos_weight=-1, jitter=dict(num=4))
    cfg = dict(type='QRPNHead', in_channels=32, feat_channels=64,
               train_cfg=train_cfg)
    cfg.update(kwargs)
    return MODELS.build(cfg)


PERSONS = torch.tensor([[20., 20., 50., 90.], [60., 10., 95., 85.],
                        [30., 60., 75., 125.], [90., 40., 125., 120.]])


def gallery_targets():
    metas = [dict(img_shape=(128, 128), pad_shape=(128, 128))] * 2
    gts = [InstanceData(bboxes=PERSONS, labels=torch.zeros(4).long()),
           InstanceData(bboxes=PERSONS[1:3],
                        labels=torch.zeros(2).long())]
    targets = [InstanceData(bboxes=PERSONS[:1]),
               InstanceData(bboxes=PERSONS[2:3])]
    return targets, gts, metas


def test_qrpn_shapes_and_grads():
    torch.manual_seed(0)
    head = tiny_qrpn()
    assert not hasattr(head, 'rpn_reg') and not hasattr(head, 'conv_reg')
    gallery = torch.randn(2, 32, 8, 8, requires_grad=True)
    query = torch.randn(2, 32, 4, 6, requires_grad=True)
    qboxes = [torch.tensor([[8., 4., 40., 60.]]),
              torch.tensor([[30., 10., 90., 60.]])]
    (scores, ) = head((gallery, ), (query, ), qboxes)
    assert scores.shape == (2, 15, 8, 8)
    assert head.query_attention(query, qboxes).shape == (2, 32)
    targets, gts, metas = gallery_targets()
    losses = head.loss((gallery, ), (query, ), qboxes, targets, gts, metas)
    losses['loss_qrpn'].backward()
    assert_all_grads(head)
    assert gallery.grad.abs().sum() > 0 and query.grad.abs().sum() > 0


def test_qrpn_sampling_never_negative_on_a_person():
    torch.manual_seed(0)
    head = tiny_qrpn()
    targets, gts, metas = gallery_targets()
    scores = [torch.zeros(2, 15, 8, 8)]
    for _ in range(3):
        labels, weights, avg, samples = head.get_qrpn_targets(
            scores, targets, gts, metas)
        assert labels.shape == weights.shape == (2, 8 * 8 * 15)
        assert avg == weights.sum() == 2 * 128
        for res, gt, target in zip(samples, gts, targets):
            assert len(res.pos_inds) > 0
            assert len(res.pos_inds) + len(res.neg_inds) == 128
            # every negative: IoU < 0.3 with EVERY person of the image
            assert bbox_overlaps(gt.bboxes, res.neg_priors).max() < 0.3
            # positives lie on the query person, never on the others
            pos_iou = bbox_overlaps(res.pos_priors, gt.bboxes)
            on_target = bbox_overlaps(res.pos_priors, target.bboxes)[:, 0]
            assert (on_target >= pos_iou.max(1).values).all()
        # labels: 0 = query person (positive), 1 = background
        assert ((labels == 0) & (weights > 0)).sum() == sum(
            len(r.pos_inds) for r in samples)
    # the exclusion is active: some anchors with IoU in [0, 0.3) to the
    # target overlap another person and are ignored, not negatives
    anchors = head.prior_generator.grid_priors([(8, 8)], device='cpu')[0]
    iou = bbox_overlaps(PERSONS, anchors)
    assert ((iou[0] < 0.3) & (iou[1:].max(0).values >= 0.3)).any()


def test_jitter_boxes():
    torch.manual_seed(0)
    box = torch.tensor([[20., 20., 50., 90.]])
    out = jitter_boxes(box, num=8)
    assert 0 < len(out) <= 8
    assert (bbox_overlaps(out, box)[:, 0] >= 0.7).all()
    assert not torch.allclose(out, box.expand_as(out))


def qrpn_table8_params(pooled_size):
    """QRPN head (ResNet-18 res4: C = 256, RPN* 256 -> 512) per r."""
    return {
        r: num_params(QRPNHead(
            256, feat_channels=512, reduction_ratio=r,
            roi_layer=dict(type='RoIAlign', output_size=pooled_size,
                           spatial_scale=1 / 16, sampling_ratio=2)))
        for r in (2, 4, 8, 16, 32)
    }


def consistent_base(params, table):
    """Is there a base B with round(B + params[r], 0.1 M) = table[r] for all
    r? Returns the interval of such B (empty if lo >= hi)."""
    lo = max(table[r] * 1e6 - 0.05e6 - p for r, p in params.items())
    hi = min(table[r] * 1e6 + 0.05e6 - p for r, p in params.items())
    return lo, hi


def test_qrpn_param_counts_table8():
    """QGN Table 8 (OIM + QRPN, ResNet-18) fixes the pooled size P = 7."""
    table = {2: 15.3, 4: 14.5, 8: 14.1, 16: 13.9, 32: 13.8}
    params = qrpn_table8_params(7)
    for r, p in params.items():  # FC1 + FC2 (+ biases) + RPN* convs
        c_r = 256 // r
        assert p - (256 * 49 * c_r + c_r + c_r * 256 + 256) == (
            256 * 512 * 9 + 512 + 512 * 15 + 15)
    diff = params[2] - params[16]
    assert diff == pytest.approx(28672 * 50, abs=200)  # 28672 (P^2 + 1)
    assert abs(diff / 1e6 - (table[2] - table[16])) < 0.05
    for r in table:  # every difference to r = 16, within the table rounding
        assert abs((params[r] - params[16]) / 1e6 -
                   (table[r] - table[16])) <= 0.1
    lo, hi = consistent_base(params, table)
    assert lo < hi  # base ~ 13.69 M
    for size in (6, 8):  # neighbouring pooled sizes contradict the table
        lo, hi = consistent_base(qrpn_table8_params(size), table)
        assert lo >= hi


def test_fuse_rpn_scores_ranks_by_probability_sum():
    torch.manual_seed(0)
    rpn = RPNHead(
        32, feat_channels=32,
        anchor_generator=dict(type='AnchorGenerator', scales=[2, 4, 8, 16, 32],
                              ratios=[1.0, 2.0, 3.0], strides=[16]),
        test_cfg=ConfigDict(nms_pre=50, max_per_img=10,
                            nms=dict(type='nms', iou_threshold=0.7),
                            min_bbox_size=0))
    feat = torch.randn(1, 32, 8, 8)
    (obj, ), (deltas, ) = rpn((feat, ))
    qrpn = torch.randn_like(obj) * 3
    (fused, ) = fuse_rpn_scores([obj], [qrpn])
    torch.testing.assert_close(2 * fused.sigmoid(),
                               obj.sigmoid() + qrpn.sigmoid())
    meta = [dict(img_shape=(128, 128), scale_factor=(1., 1.))]
    (props, ) = rpn.predict_by_feat([fused], [deltas], batch_img_metas=meta,
                                    rescale=False)
    assert 0 < len(props) <= 10
    # the best proposal: the anchor with the highest probability sum, its box
    # decoded with the standard RPN deltas
    total = (obj.sigmoid() + qrpn.sigmoid())[0].permute(1, 2, 0).reshape(-1)
    best = total.argmax()
    anchors = rpn.prior_generator.grid_priors([(8, 8)], device='cpu')[0]
    box = rpn.bbox_coder.decode(
        anchors[best:best + 1],
        deltas[0].permute(1, 2, 0).reshape(-1, 4)[best:best + 1],
        max_shape=(128, 128))
    torch.testing.assert_close(props.scores[0], total[best] / 2)
    torch.testing.assert_close(props.bboxes[0], box[0])


# -------------------------------------------------------------- QSimNet ---
def test_qsimnet_shapes_grads_and_predict():
    net = MODELS.build(dict(type='QSimNet', in_channels=256))
    assert num_params(net) == 2 * 256 + 256 * 2 + 2  # BN(256) + FC(256x2)
    f_q = torch.randn(1, 256, requires_grad=True)
    f_g = torch.randn(6, 256, requires_grad=True)
    assert net(f_q, f_g).shape == (6, 2)
    loss = net.loss(f_q, f_g, torch.tensor([1, 0, 0, 0, 0, 0]))['loss_sim']
    loss.backward()
    assert_all_grads(net)
    assert f_q.grad.abs().sum() > 0 and f_g.grad.abs().sum() > 0
    net.eval()
    p = net.predict(f_q, f_g)
    assert p.shape == (6, ) and ((p > 0) & (p < 1)).all()
    # symmetric in its inputs: (f_q - f_g)^2
    torch.testing.assert_close(net.predict(f_g, f_q.expand(6, -1)), p)
    # a single pair in training mode works (running statistics)
    net.train()
    assert net(f_q, f_g[:1]).shape == (1, 2)


def test_qsimnet_loss_falls_on_separable_pairs():
    torch.manual_seed(0)
    net = QSimNet(in_channels=16)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    f_q = torch.nn.functional.normalize(torch.randn(64, 16), dim=1)
    same = torch.rand(64) < 0.5
    noise = torch.where(same[:, None], 0.05 * torch.randn(64, 16),
                        torch.randn(64, 16))
    f_g = torch.nn.functional.normalize(f_q + noise, dim=1)
    labels = same.long()
    first = net.loss(f_q, f_g, labels)['loss_sim'].item()
    for _ in range(60):
        opt.zero_grad()
        loss = net.loss(f_q, f_g, labels)['loss_sim']
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    net.eval()
    acc = ((net.predict(f_q, f_g) > 0.5) == same).float().mean()
    assert acc > 0.95


def test_qsimnet_distance_init_ranks_like_the_cosine():
    torch.manual_seed(0)
    net = QSimNet(in_channels=32, distance_init=True)
    net.init_weights()  # keeps the distance start
    net.eval()
    f_q = torch.nn.functional.normalize(torch.randn(1, 32), dim=1)
    f_g = torch.nn.functional.normalize(
        f_q + torch.linspace(0.1, 3, 20)[:, None] * torch.randn(20, 32), dim=1)
    p = net.predict(f_q, f_g)
    cos = (f_g * f_q).sum(dim=1)
    assert torch.equal(p.argsort(), cos.argsort())
    # default start: PyTorch's initialisation, no such ranking
    plain = QSimNet(in_channels=32).eval()
    assert not torch.equal(plain.predict(f_q, f_g).argsort(), cos.argsort())
