"""PGS prototype-guided attention (pgs_igpn.md §1.4, §1.6, §1.10): shapes,
gradients, hand-computed attention, guidance target and loss, the
pre-update table, the weight schedule, and the parameter count."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger

from mmqgn.models import PGAEmbeddingHead, PrototypeGuidedAttention

S = 1 / (1 + math.exp(-3.5))  # sigmoid(3.5)


def _sig(v):
    return 1 / (1 + math.exp(-v))


def _set(linear, weight, bias):
    linear.weight.data = torch.tensor(weight, dtype=torch.float)
    linear.bias.data = torch.tensor(bias, dtype=torch.float)


def _toy_attention():
    """d = 2, 2x2 maps, hidden sizes 1 and 1, hand-set weights."""
    att = PrototypeGuidedAttention(channels=2, feat_size=2, channel_ratio=2,
                                   spatial_ratio=4)
    _set(att.channel_se[0], [[1., 1.]], [0.])
    _set(att.channel_se[2], [[1.], [-1.]], [0., 0.])
    _set(att.spatial_se[0], [[0., 0., 0., 1.]], [0.])
    _set(att.spatial_se[2], [[1.], [0.], [-1.], [0.5]], [0., 0., 0., -1.])
    return att


# channel 0 = [[1, 2], [3, 4]], channel 1 = [[0, 0], [0, 4]]
TOY_F = torch.tensor([[[[1., 2.], [3., 4.]], [[0., 0.], [0., 4.]]]])


def test_attention_by_hand():
    # f_c = (2.5, 1); z = sigmoid((3.5, -3.5)) = (S, 1 - S);
    # f_s = mean_c(z f) = (S/2, S, 3S/2, 2S + 2(1 - S)) -> W1s picks f_s[3]
    # = 2; A = sigmoid((2, 0, -2, 2 * 0.5 - 1)) = sigmoid((2, 0, -2, 0))
    att = _toy_attention()
    a = att(TOY_F)
    assert a.shape == (1, 1, 2, 2)
    expected = torch.tensor([[_sig(2), 0.5], [_sig(-2), 0.5]])
    torch.testing.assert_close(a[0, 0], expected, atol=1e-6, rtol=0)
    # a channel sum instead of the mean (P12) would give f_s[3] = 4
    assert abs(a[0, 0, 0, 0].item() - _sig(4)) > 0.05


def test_embedding_by_hand():
    head = PGAEmbeddingHead(in_channels=(1, 2), embed_dim=2, feat_size=2,
                            channel_ratio=2, spatial_ratio=4)
    head.attention = _toy_attention()
    head.reduce.weight.data = torch.eye(2)[:, :, None, None]
    head.reduce.bias.data.zero_()
    x = head(torch.zeros(1, 1, 4, 4), TOY_F)
    # sum A = 2 sigmoid(2) + 2 sigmoid(-2) ... = 0.8808 + 0.5 + 0.1192 + 0.5
    a = [_sig(2), 0.5, _sig(-2), 0.5]
    num0 = a[0] * 1 + a[1] * 2 + a[2] * 3 + a[3] * 4
    num1 = a[3] * 4
    den = sum(a) + 1e-6
    expected = F.normalize(torch.tensor([[num0 / den, num1 / den]]), dim=1)
    torch.testing.assert_close(x, expected, atol=1e-6, rtol=0)
    # the z-reweighted map would give another direction (z not in x, P12)
    z0, z1 = S, 1 - S
    wrong = F.normalize(torch.tensor([[z0 * num0, z1 * num1]]), dim=1)
    assert (x - wrong).abs().max() > 0.1


@pytest.mark.parametrize('size', [7, 14])
def test_shapes_and_gradients(size):
    head = PGAEmbeddingHead(in_channels=(16, 32), embed_dim=256,
                            feat_size=size)
    res5 = torch.randn(3, 32, size, size, requires_grad=True)
    f, a = head.saliency(res5)
    assert f.shape == (3, 256, size, size)
    assert a.shape == (3, 1, size, size)
    assert ((a > 0) & (a < 1)).all()
    x = head(torch.randn(3, 16, 14, 14), res5)
    assert x.shape == (3, 256)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(3))
    (x * torch.randn(3, 256)).sum().backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert res5.grad.abs().sum() > 0
    assert head(torch.zeros(0, 16, 14, 14),
                torch.zeros(0, 32, size, size)).shape == (0, 256)


def test_bad_maps_raise_clear_errors():
    head = PGAEmbeddingHead(in_channels=(16, 32), feat_size=7)
    with pytest.raises(ValueError, match='shared_head.pool=None'):
        head(torch.randn(2, 16, 14, 14), torch.randn(2, 32))
    with pytest.raises(ValueError, match='feat_size'):
        head(torch.randn(2, 16, 14, 14), torch.randn(2, 32, 4, 4))


def test_parameter_count_against_our_arithmetic():
    # 1x1 conv 2048 -> 256: 2048 * 256 + 256 = 524,544 (in the GAP
    # baseline too). Channel SE 256 -> 32 -> 256: 256*32 + 32 + 32*256 +
    # 256 = 16,672. Spatial SE 49 -> 7 -> 49: 49*7 + 7 + 7*49 + 49 = 742;
    # 196 -> 28 -> 196: 196*28 + 28 + 28*196 + 196 = 11,200. The paper's
    # Table 3 says +208 K (3,596 K -> 3,804 K), which these layers do not
    # explain (pgs_igpn.md P11).
    def count(module):
        return sum(p.numel() for p in module.parameters())

    for size, spatial in ((7, 742), (14, 11200)):
        head = PGAEmbeddingHead(in_channels=(1024, 2048), feat_size=size)
        assert count(head.reduce) == 2048 * 256 + 256 == 524544
        assert count(head.attention.channel_se) == 16672
        assert count(head.attention.spatial_se) == spatial
        assert count(head) == 524544 + 16672 + spatial
    gap_baseline = nn.Conv2d(2048, 256, 1)
    added = count(PGAEmbeddingHead(feat_size=7)) - count(gap_baseline)
    assert added == 17414 and added < 208000 / 10


def test_response_map_by_hand_and_detached():
    # pixels (1, 0), (0, 1), (-1, 0), (1, 1); prototype (2, 0)
    f = torch.tensor([[[[1., 0.], [-1., 1.]], [[0., 1.], [0., 1.]]]],
                     requires_grad=True)
    m = PrototypeGuidedAttention.response_map(f, torch.tensor([[2., 0.]]))
    expected = torch.tensor([[[[1., 0.], [0., 1 / math.sqrt(2)]]]])
    torch.testing.assert_close(m, expected)
    assert not m.requires_grad


def test_guidance_loss_by_hand():
    a = torch.tensor([[[[0.5, 0.5]]], [[[1.0, 0.0]]]], requires_grad=True)
    m = torch.tensor([[[[1.0, 0.0]]], [[[1.0, 0.5]]]])
    # RoI 1: 0.25 + 0.25 = 0.5; RoI 2: 0 + 0.25 = 0.25; mean 0.375
    loss = PrototypeGuidedAttention.guidance_loss(a, m)
    assert loss.item() == pytest.approx(0.375)
    loss.backward()
    # d/dA of (A - M)^2 / R
    torch.testing.assert_close(a.grad, (a - m).detach())
    assert PrototypeGuidedAttention.guidance_loss(a[:0], m[:0]).item() == 0


def _head(num_ids=3, weight=0.1):
    torch.manual_seed(0)
    return PGAEmbeddingHead(
        in_channels=(4, 8), embed_dim=6, feat_size=3, channel_ratio=2,
        spatial_ratio=3, guidance_weight=weight,
        loss_reid=dict(type='OIMLoss', num_person_ids=num_ids, queue_size=4,
                       embed_dim=6, normalize='labeled')).train()


def _batch(num=5):
    torch.manual_seed(1)
    return torch.randn(num, 4, 6, 6), torch.randn(num, 8, 3, 3)


def test_guidance_is_zero_until_the_table_is_full():
    head = _head()
    res4, res5 = _batch()
    is_pos = torch.tensor([True, True, True, False, False])
    losses, emb = head.loss_and_embed(res4, res5, is_pos,
                                      torch.tensor([0, 1, -1]))
    assert set(losses) == {'loss_oim', 'loss_att'}
    assert emb.shape == (5, 6)
    assert losses['loss_att'].item() == 0.0  # rows 0, 1 were empty
    losses, _ = head.loss_and_embed(res4, res5, is_pos,
                                    torch.tensor([1, 1, -1]))
    assert losses['loss_att'].item() == 0.0  # row 2 still empty
    assert head.loss_reid.written_rows().tolist() == [True, True, False]
    head.loss_and_embed(res4, res5, is_pos, torch.tensor([2, 2, -1]))
    losses, _ = head.loss_and_embed(res4, res5, is_pos,
                                    torch.tensor([0, 1, -1]))
    assert losses['loss_att'].item() > 0  # full: the guidance is on


def test_guidance_uses_the_table_before_this_update(tmp_path):
    head = _head()
    head.loss_reid.lut[:] = F.normalize(torch.randn(3, 6), dim=1)
    before = head.loss_reid.lut.clone()
    res4, res5 = _batch()
    is_pos = torch.tensor([True, False, True, True, False])
    labels = torch.tensor([2, -1, 0])  # RoI 2 unlabeled, RoI 1 background
    MessageHub.get_current_instance().update_info('iter', 41)
    logger = MMLogger.get_instance('test_pga_guidance',
                                   log_file=str(tmp_path / 'log.txt'))
    losses, emb = head.loss_and_embed(res4, res5, is_pos, labels)
    assert not torch.equal(head.loss_reid.lut, before)  # OIM updated it

    f, a = head.saliency(res5)
    f, a = f[[0, 3]], a[[0, 3]]  # the labeled foreground RoIs
    def expected(table):
        cos = F.cosine_similarity(f, table[[2, 0]][:, :, None, None], dim=1)
        return 0.1 * ((a[:, 0] - cos.clamp(min=0)) ** 2).sum() / 2
    torch.testing.assert_close(losses['loss_att'], expected(before))
    assert abs(losses['loss_att'] - expected(head.loss_reid.lut)) > 1e-4
    torch.testing.assert_close(emb, head(res4, res5))
    for handler in logger.handlers:
        handler.flush()
    log = (tmp_path / 'log.txt').read_text()
    assert 'guidance loss is on (weight 0.1) from iteration 42' in log
    # logged once
    head.loss_and_embed(res4, res5, is_pos, labels)
    for handler in logger.handlers:
        handler.flush()
    assert (tmp_path / 'log.txt').read_text().count('guidance') == 1
    MessageHub.get_current_instance().pop_info('iter')


def test_guidance_gradient_reaches_the_attention_not_the_table():
    head = _head()
    head.loss_reid.lut[:] = F.normalize(torch.randn(3, 6), dim=1)
    head.loss_reid.eval()  # keep the table fixed
    res4, res5 = _batch()
    losses, _ = head.loss_and_embed(res4, res5, torch.ones(5, dtype=bool),
                                    torch.tensor([0, 1, 2, 0, -1]))
    losses['loss_att'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_self_attention_ablation_has_no_guidance():
    head = _head(weight=0.0)
    head.loss_reid.lut[:] = F.normalize(torch.randn(3, 6), dim=1)
    res4, res5 = _batch()
    losses, _ = head.loss_and_embed(res4, res5, torch.ones(5, dtype=bool),
                                    torch.tensor([0, 1, 2, 0, -1]))
    assert losses['loss_att'].item() == 0.0
    assert losses['loss_oim'].item() > 0


def test_attention_moves_towards_the_prototype_response():
    head = _head()
    head.loss_reid.lut[:] = F.normalize(torch.randn(3, 6), dim=1)
    head.loss_reid.eval()
    res4, res5 = _batch()
    labels = torch.tensor([0, 1, 2, 0, 1])
    optim = torch.optim.SGD(head.attention.parameters(), lr=1.0)
    errors = []
    for _ in range(200):
        losses, _ = head.loss_and_embed(res4, res5, torch.ones(5, dtype=bool),
                                        labels)
        errors.append(losses['loss_att'].item())
        optim.zero_grad()
        losses['loss_att'].backward()
        optim.step()
    assert errors[-1] < 0.5 * errors[0]


def test_copy_without_loss_and_prototypes():
    head = _head()
    head.loss_reid.lut[1] = torch.ones(6)
    copy = head.copy_without_loss()
    assert not copy.with_loss and head.with_loss
    assert copy.reduce.weight is not head.reduce.weight
    torch.testing.assert_close(copy.reduce.weight, head.reduce.weight)
    torch.testing.assert_close(head.prototypes(torch.tensor([1])),
                               torch.ones(1, 6))
