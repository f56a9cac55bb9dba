"""OIMLoss ``update_rule='amu'``: the PGS adaptive momentum update (pgs_igpn.md
§1.5 Eqs. 7-8, P7, P8; checklist §1.10), against hand-computed values."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmqgn.models import OIMLoss
from test_engine.two_ranks import run_two_ranks, set_dist_env


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def _unit(a, b):
    n = math.hypot(a, b)
    return [a / n, b / n]


def _amu(rows, tau, num_ids=4):
    oim = OIMLoss(num_ids, 0, embed_dim=2, update_rule='amu',
                  amu_temperature=tau)
    for i, row in enumerate(rows):
        oim.lut[i] = torch.tensor(row)
    return oim


def _close(actual, expected, atol=1e-4):
    torch.testing.assert_close(actual, torch.tensor(expected), atol=atol,
                               rtol=0)


def test_one_update_by_hand():
    # v0 = (1, 0), v1 = (0, 1), v2 = (0.8, -0.6); x = (0.6, 0.8), label 0.
    # q = argmax(v1.v0 = 0, v2.v0 = 0.8) = 2; v2.x = 0, v0.x = 0.6:
    # eta = sigmoid((0 - 0.6) / 0.5) = sigmoid(-1.2) = 0.23148
    oim = _amu([[1., 0.], [0., 1.], [0.8, -0.6]], tau=0.5)
    oim.update(torch.tensor([[0.6, 0.8]]), torch.tensor([0]))
    eta = _sigmoid(-1.2)
    assert eta == pytest.approx(0.23148, abs=1e-5)
    v0 = _unit(eta + (1 - eta) * 0.6, (1 - eta) * 0.8)  # (0.7479, 0.6639)
    _close(oim.lut[0], v0)
    _close(oim.lut[0], [0.7479, 0.6639])
    _close(oim.lut[1:3], [[0., 1.], [0.8, -0.6]], atol=0)
    # the sign matters: the swapped gate would give 1 - eta
    wrong = _unit((1 - eta) + eta * 0.6, eta * 0.8)
    assert abs(oim.lut[0, 1].item() - wrong[1]) > 0.2


def test_two_updates_are_sequential_by_hand():
    # sample 1 as above; sample 2 (label 1, x = (0.28, 0.96)) sees the
    # updated v0' = (0.7479, 0.6639): q = argmax(v0'.v1 = 0.664,
    # v2.v1 = -0.6) = 0, v0'.x = 0.8468 (the old v0 would give 0.28),
    # eta = sigmoid((0.8468 - 0.96) / 0.5) = 0.4436. Sample 3 writes the
    # empty row 3.
    oim = _amu([[1., 0.], [0., 1.], [0.8, -0.6]], tau=0.5)
    x = torch.tensor([[0.6, 0.8], [0.28, 0.96], [-0.6, 0.8]])
    oim.update(x, torch.tensor([0, 1, 3]))
    eta1 = _sigmoid(-1.2)
    v0 = _unit(eta1 + (1 - eta1) * 0.6, (1 - eta1) * 0.8)
    sim = v0[0] * 0.28 + v0[1] * 0.96
    assert sim == pytest.approx(0.8468, abs=1e-4)
    eta2 = _sigmoid((sim - 0.96) / 0.5)
    assert eta2 == pytest.approx(0.4436, abs=1e-4)
    v1 = _unit((1 - eta2) * 0.28, eta2 + (1 - eta2) * 0.96)
    _close(oim.lut, [v0, v1, [0.8, -0.6], [-0.6, 0.8]])
    _close(oim.lut[1], [0.1574, 0.9875])


def test_same_identity_twice_in_a_batch():
    # the second occurrence gates against the row the first one wrote
    oim = _amu([[1., 0.], [0., 1.]], tau=0.5, num_ids=2)
    oim.update(torch.tensor([[0.6, 0.8], [0.6, 0.8]]), torch.tensor([0, 0]))
    v = [1., 0.]
    for _ in range(2):
        # q = 1 (the only other row): eta = sigmoid((0.8 - v.x) / 0.5)
        eta = _sigmoid((0.8 - (v[0] * 0.6 + v[1] * 0.8)) / 0.5)
        v = _unit(eta * v[0] + (1 - eta) * 0.6, eta * v[1] + (1 - eta) * 0.8)
    _close(oim.lut[0], v)


def test_empty_row_stores_normalized_x():
    oim = _amu([[1., 0.]], tau=0.05)
    oim.update(torch.tensor([[3., 4.]]), torch.tensor([2]))
    _close(oim.lut[2], [0.6, 0.8], atol=1e-6)
    _close(oim.lut[0], [1., 0.], atol=0)


def test_close_to_hardest_negative_barely_moves():
    # checklist 2: v_q.x >> v_i.x at tau 0.05: v0 = (1, 0), v1 = (0, 1),
    # x = (0.6, 0.8): eta = sigmoid((0.8 - 0.6) / 0.05) = sigmoid(4)
    oim = _amu([[1., 0.], [0., 1.]], tau=0.05, num_ids=2)
    oim.update(torch.tensor([[0.6, 0.8]]), torch.tensor([0]))
    eta = _sigmoid(4.0)
    _close(oim.lut[0], _unit(eta + (1 - eta) * 0.6, (1 - eta) * 0.8),
           atol=1e-5)
    assert oim.lut[0, 0] > 0.999  # barely moved (fixed 0.5: 0.894)


def test_close_to_own_prototype_jumps_to_x():
    # checklist 3: v_i.x >> v_q.x: x = (0.8, 0.6), v0.x = 0.8, v1.x = 0.6:
    # eta = sigmoid(-4) = 0.018, v0 nearly x
    oim = _amu([[1., 0.], [0., 1.]], tau=0.05, num_ids=2)
    oim.update(torch.tensor([[0.8, 0.6]]), torch.tensor([0]))
    eta = _sigmoid(-4.0)
    _close(oim.lut[0], _unit(eta + (1 - eta) * 0.8, (1 - eta) * 0.6),
           atol=1e-5)
    assert abs(oim.lut[0, 1] - 0.6) < 0.02


def test_q_is_never_self_nor_an_empty_row():
    # checklist 4: v0 = (1, 0), v1 = (-1, 0), row 2 empty; x = (0.6, 0.8).
    # q = 1 gives eta = sigmoid((-0.6 - 0.6) / 0.5) = 0.0832; the empty row
    # (dot 0) would give sigmoid(-1.2) = 0.2315, the own row 0.5.
    oim = _amu([[1., 0.], [-1., 0.]], tau=0.5, num_ids=3)
    oim.update(torch.tensor([[0.6, 0.8]]), torch.tensor([0]))
    eta = _sigmoid(-2.4)
    _close(oim.lut[0], _unit(eta + (1 - eta) * 0.6, (1 - eta) * 0.8))
    assert oim.lut[2].abs().sum() == 0


def test_no_other_written_row_falls_back_to_momentum():
    oim = _amu([[1., 0.]], tau=0.05, num_ids=3)
    oim.update(torch.tensor([[0.6, 0.8]]), torch.tensor([0]))
    _close(oim.lut[0], _unit(0.5 + 0.5 * 0.6, 0.5 * 0.8), atol=1e-6)


def test_forward_uses_the_pre_update_table_and_queue_unchanged():
    oim = OIMLoss(3, 2, embed_dim=2, update_rule='amu', normalize='labeled')
    oim.lut[:2] = torch.tensor([[1., 0.], [0., 1.]])
    x = torch.tensor([[0.6, 0.8], [0.8, 0.6]], requires_grad=True)
    loss = oim(x, torch.tensor([0, -1]))
    logits = 30 * torch.tensor([0.6, 0.8, 0., 0., 0.])
    assert loss.item() == pytest.approx(
        F.cross_entropy(logits[None], torch.tensor([0])).item(), abs=1e-5)
    loss.backward()
    # the unlabeled sample entered the queue; row 0 got the AMU update
    _close(oim.queue[0], [0.8, 0.6], atol=0)
    eta = _sigmoid((0.8 - 0.6) / 0.05)
    _close(oim.lut[0], _unit(eta + (1 - eta) * 0.6, (1 - eta) * 0.8))


def test_default_is_the_fixed_momentum_update():
    oim = OIMLoss(2, 0, embed_dim=2)
    assert oim.update_rule == 'momentum'
    oim.lut[:] = torch.tensor([[1., 0.], [0., 1.]])
    oim.update(torch.tensor([[0.6, 0.8]]), torch.tensor([0]))
    _close(oim.lut[0], _unit(0.8, 0.4), atol=1e-6)


def test_bad_update_arguments():
    with pytest.raises(ValueError, match="update_rule must be 'momentum'"):
        OIMLoss(2, 0, update_rule='adaptive')
    with pytest.raises(ValueError, match='amu_temperature'):
        OIMLoss(2, 0, update_rule='amu', amu_temperature=0.0)


def test_state_dict_is_that_of_the_fixed_update():
    # resume: AMU keeps no state beyond the fixed update's buffers
    amu = OIMLoss(3, 2, embed_dim=2, update_rule='amu')
    assert list(amu.state_dict()) == list(OIMLoss(3, 2, embed_dim=2)
                                          .state_dict())
    amu.update(torch.tensor([[0.6, 0.8], [0.8, 0.6]]), torch.tensor([0, 1]))
    resumed = OIMLoss(3, 2, embed_dim=2, update_rule='amu')
    resumed.load_state_dict(amu.state_dict())
    x, labels = torch.tensor([[0., 1.]]), torch.tensor([0])
    amu.update(x, labels)
    resumed.update(x, labels)
    assert torch.equal(amu.lut, resumed.lut)


def _rank_batch(rank):
    torch.manual_seed(10 + rank)
    num = 3 + rank  # unequal counts
    x = F.normalize(torch.randn(num, 4), dim=1)
    return x, torch.tensor([[0, -1, 2], [2, 1, 0, -1]][rank])


def _start_table():
    oim = OIMLoss(5, 3, embed_dim=4, update_rule='amu', amu_temperature=0.1)
    torch.manual_seed(0)
    oim.lut[:3] = F.normalize(torch.randn(3, 4), dim=1)
    return oim


def _ddp_worker(rank, port, results):
    import torch.distributed as dist
    set_dist_env(rank, port)
    dist.init_process_group('gloo', rank=rank, world_size=2)
    oim = _start_table()
    oim(*_rank_batch(rank))
    results[rank] = {k: v.clone() for k, v in oim.state_dict().items()}
    dist.destroy_process_group()


def test_two_processes_equal_one_over_the_concatenated_batch():
    r0, r1 = map(dict, run_two_ranks(_ddp_worker))
    single = _start_table()
    batches = [_rank_batch(rank) for rank in range(2)]
    single(torch.cat([b[0] for b in batches]),
           torch.cat([b[1] for b in batches]))
    for key, value in single.state_dict().items():
        assert torch.equal(r0[key], r1[key]), key
        torch.testing.assert_close(r0[key], value, msg=key)
    # rows 0 and 2 were updated twice (both ranks), row 1 once
    assert not torch.equal(single.lut[:3], _start_table().lut[:3])
