"""OIMLoss: logits, masking, the "divide by all" (GFN) and labeled-only
(NAE4PS) means, table updates, AMP, DDP."""
import math
import socket

import pytest
import torch
import torch.nn.functional as F

from mmqgn.models import OIMLoss, all_gather_varlen

S = 30.0


def _oim(num_ids=3, queue_size=2, dim=2, **kwargs):
    return OIMLoss(num_ids, queue_size, embed_dim=dim, scalar=S, **kwargs)


def _ce(logits, target):
    """-log softmax(logits)[target] for a list of python floats."""
    return math.log(sum(math.exp(v) for v in logits)) - logits[target]


def test_logits_and_loss_match_hand_computation():
    oim = _oim()
    oim.lut[0] = torch.tensor([1.0, 0.0])
    oim.lut[1] = torch.tensor([0.0, 1.0])  # row 2 never written
    oim.queue[0] = torch.tensor([0.6, 0.8])  # queue row 1 empty
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], requires_grad=True)
    labels = torch.tensor([0, 2, -1])
    oim.eval()  # no table update
    sims = oim.similarities(x, labels)
    expected = torch.tensor([
        [1.0, 0.0, -1.0, 0.6, -1.0],  # empty LUT column -> -1
        [0.0, 1.0, 1.0, 0.8, -1.0],  # own empty row -> +1
        [0.6, 0.8, -1.0, 1.0, -1.0],  # empty queue column -> -1
    ])
    assert torch.allclose(sims, expected)
    loss = oim(x, labels)
    hand = (_ce([S * v for v in expected[0].tolist()], 0) +
            _ce([S * v for v in expected[1].tolist()], 2)) / 3  # divide by all
    assert loss.item() == pytest.approx(hand, rel=1e-5)
    ref = F.cross_entropy(S * expected, labels, ignore_index=-1,
                          reduction='sum') / 3
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    # masked columns carry no gradient: sample 1 only sees LUT[1] and CQ[0]
    assert torch.isfinite(x.grad).all()
    # d loss / d x_i = S / N sum_j (p_ij - y_ij) W_j over the written
    # columns j only (LUT[0], LUT[1], CQ[0]); the unlabeled sample gets none
    rows = {0: [1.0, 0.0], 1: [0.0, 1.0], 3: [0.6, 0.8]}
    assert torch.allclose(x.grad, _hand_grad(expected, [0, 2, None], rows,
                                              num=3), atol=1e-6)
    assert torch.equal(x.grad[2], torch.zeros(2))


def _hand_grad(sims, targets, rows, num):
    """S / num * sum over the columns in ``rows`` (column -> its LUT/CQ
    row) of (softmax(S sims_i)_j - [j == y_i]) * row_j; no gradient for an
    unlabeled sample (target None)."""
    grads = []
    for i, target in enumerate(targets):
        g = [0.0, 0.0]
        if target is not None:
            logits = [S * v for v in sims[i].tolist()]
            z = sum(math.exp(v) for v in logits)
            for j, row in rows.items():
                coef = math.exp(logits[j]) / z - (j == target)
                g = [a + S / num * coef * r for a, r in zip(g, row)]
        grads.append(g)
    return torch.tensor(grads)


def test_nae4ps_rule_means_over_labeled_and_masks_nothing():
    """normalize='labeled' (qgn_qeeps.md §6.2): raw cosines, empty rows
    read 0; the mean over the 2 labeled samples, not over all 3."""
    oim = _oim(normalize='labeled')
    oim.lut[0] = torch.tensor([1.0, 0.0])
    oim.lut[1] = torch.tensor([0.0, 1.0])  # row 2 never written
    oim.queue[0] = torch.tensor([0.6, 0.8])  # queue row 1 empty
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], requires_grad=True)
    labels = torch.tensor([0, 2, -1])
    oim.eval()
    sims = oim.similarities(x, labels)
    expected = torch.tensor([
        [1.0, 0.0, 0.0, 0.6, 0.0],  # empty columns: plain cosine 0
        [0.0, 1.0, 0.0, 0.8, 0.0],  # own empty row: 0, not +1
        [0.6, 0.8, 0.0, 1.0, 0.0],
    ])
    assert torch.allclose(sims, expected)
    loss = oim(x, labels)
    hand = (_ce([S * v for v in expected[0].tolist()], 0) +
            _ce([S * v for v in expected[1].tolist()], 2)) / 2
    assert loss.item() == pytest.approx(hand, rel=1e-5)
    loss.backward()
    rows = {0: [1.0, 0.0], 1: [0.0, 1.0], 3: [0.6, 0.8]}
    assert torch.allclose(x.grad, _hand_grad(expected, [0, 2, None], rows,
                                              num=2), atol=1e-6)
    # the same inputs under the GFN rule give a different loss
    gfn = _oim()
    gfn.load_state_dict(oim.state_dict())
    gfn.eval()
    assert gfn(x, labels).item() != pytest.approx(loss.item(), rel=1e-3)


def test_nae4ps_rule_updates_tables_like_the_gfn_rule():
    feats = F.normalize(torch.randn(5, 2), dim=1)
    labels = torch.tensor([0, -1, 2, 0, -1])
    tables = []
    for normalize in ('all', 'labeled'):
        oim = _oim(normalize=normalize)
        oim(feats, labels)
        tables.append(oim.state_dict())
    for key in tables[0]:
        assert torch.equal(tables[0][key], tables[1][key]), key


def test_normalize_must_be_known():
    with pytest.raises(ValueError, match="'all' .*'labeled'.*'mean'"):
        _oim(normalize='mean')


def test_loss_weight_and_scalar():
    oim = _oim(loss_weight=2.0)
    oim.lut[1] = torch.tensor([0.0, 1.0])
    oim.eval()
    x = torch.tensor([[0.0, 1.0]])
    logits = [-S, S, -S, -S, -S]
    assert oim(x, torch.tensor([1])).item() == pytest.approx(
        2.0 * _ce(logits, 1), rel=1e-5)


def test_unwritten_rows_are_masked():
    oim = _oim(num_ids=4, queue_size=3, dim=3)
    x = F.normalize(torch.randn(3, 3), dim=1)
    sims = oim.similarities(x, torch.tensor([2, -1, 0]))
    expected = -torch.ones(3, 7)
    expected[0, 2] = 1.0
    expected[2, 0] = 1.0
    assert torch.equal(sims, expected)


def test_lut_update_formula_and_unit_norm():
    oim = _oim()
    oim.lut[0] = torch.tensor([1.0, 0.0])
    a = F.normalize(torch.tensor([[1.0, 1.0]]), dim=1)
    b = F.normalize(torch.tensor([[-1.0, 2.0]]), dim=1)
    oim(torch.cat([a, b, a]), torch.tensor([0, 1, 0]))
    # two updates of row 0 in order; row 1 was empty so it becomes b
    row0 = F.normalize(0.5 * torch.tensor([1.0, 0.0]) + 0.5 * a[0], dim=0)
    row0 = F.normalize(0.5 * row0 + 0.5 * a[0], dim=0)
    assert torch.allclose(oim.lut[0], row0, atol=1e-6)
    assert torch.allclose(oim.lut[1], b[0], atol=1e-6)
    assert torch.allclose(oim.lut[:2].norm(dim=1), torch.ones(2))
    assert oim.lut[2].abs().sum() == 0  # untouched
    assert oim.queue.abs().sum() == 0  # nothing unlabeled


def test_queue_fifo_wraps_around():
    oim = _oim(queue_size=3)
    feats = F.normalize(torch.randn(6, 2), dim=1)
    unl = torch.full((2, ), -1)
    oim(feats[:2], unl)
    assert int(oim.queue_ptr) == 2
    assert torch.equal(oim.queue[:2], feats[:2])
    oim(feats[2:4], unl)  # rows 2 and 0
    assert int(oim.queue_ptr) == 1
    assert torch.equal(oim.queue, torch.stack([feats[3], feats[1], feats[2]]))
    # more unlabeled than rows in one batch: the newest 3 survive
    oim(feats, torch.full((6, ), -1))
    assert int(oim.queue_ptr) == (1 + 6) % 3
    assert torch.equal(oim.queue, torch.stack([feats[5], feats[3], feats[4]]))


def test_all_ignored_batch_gives_zero_with_graph():
    oim = _oim()
    x = F.normalize(torch.randn(4, 2), dim=1).requires_grad_()
    loss = oim(x, torch.full((4, ), -1))
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    empty = torch.zeros(0, 2, requires_grad=True)
    loss = oim(empty, torch.zeros(0, dtype=torch.long))
    assert loss.item() == 0.0
    loss.backward()


def test_float32_under_autocast():
    oim = _oim(num_ids=5, queue_size=4, dim=8)
    oim.lut.copy_(F.normalize(torch.randn(5, 8), dim=1))
    oim.queue.copy_(F.normalize(torch.randn(4, 8), dim=1))
    oim.eval()
    w = torch.randn(8, 8)
    feats = torch.randn(6, 8)
    labels = torch.tensor([0, 1, -1, 4, 2, -1])
    ref = oim(F.normalize(feats @ w, dim=1), labels)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        x = feats @ w  # bfloat16 under autocast
        assert x.dtype == torch.bfloat16
        loss = oim(F.normalize(x, dim=1), labels)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(ref.item(), rel=0.05)
    # the table maths itself is exact float32: same input, same loss
    x32 = F.normalize(x.float(), dim=1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        in_autocast = oim(x32, labels)
    assert in_autocast.item() == pytest.approx(oim(x32, labels).item(),
                                               rel=1e-6)


def test_bad_label_raises_clear_error():
    oim = OIMLoss(5532, 5000)
    x = torch.zeros(1, 256)
    with pytest.raises(ValueError,
                       match='person label 6000 >= OIM lookup-table size '
                       '5532: set num_person_ids'):
        oim(x, torch.tensor([6000]))
    with pytest.raises(ValueError, match='-2'):
        oim(x, torch.tensor([-2]))


def test_buffers_in_state_dict():
    oim = _oim(num_ids=3, queue_size=2, dim=4)
    sd = oim.state_dict()
    assert set(sd) == {'lut', 'queue', 'queue_ptr'}
    assert sd['lut'].shape == (3, 4) and sd['queue'].shape == (2, 4)
    assert not any(p.requires_grad for p in oim.parameters())
    oim(F.normalize(torch.randn(2, 4), dim=1), torch.tensor([1, -1]))
    other = _oim(num_ids=3, queue_size=2, dim=4)
    other.load_state_dict(oim.state_dict())
    assert torch.equal(other.lut, oim.lut)
    assert int(other.queue_ptr) == 1


def test_no_queue():
    oim = _oim(queue_size=0)
    x = F.normalize(torch.randn(2, 2), dim=1)
    assert oim.similarities(x, torch.tensor([0, -1])).shape == (2, 3)
    oim(x, torch.tensor([0, -1]))  # unlabeled dropped without error


def test_all_gather_varlen_is_noop_without_dist():
    a, b = torch.randn(3, 2), torch.arange(3)
    out = all_gather_varlen(a, b)
    assert out[0] is a and out[1] is b


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _rank_batch(rank):
    torch.manual_seed(rank)
    num = 2 + rank  # unequal counts
    x = F.normalize(torch.randn(num, 2), dim=1)
    return x, torch.tensor([rank, -1, 3][:num])


def _ddp_worker(rank, world_size, port, results):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=world_size)
    oim = OIMLoss(4, 3, embed_dim=2)
    oim(*_rank_batch(rank))
    results[rank] = {k: v.clone() for k, v in oim.state_dict().items()}
    dist.destroy_process_group()


def test_ddp_tables_stay_identical():
    mp = torch.multiprocessing.get_context('spawn')
    with mp.Manager() as manager:
        results = manager.dict()
        torch.multiprocessing.start_processes(
            _ddp_worker, args=(2, _free_port(), results), nprocs=2,
            start_method='spawn')
        r0, r1 = dict(results[0]), dict(results[1])
    for key in r0:
        assert torch.equal(r0[key], r1[key]), key
    # rank 0 wrote row 0, rank 1 rows 1 and 3; 2 unlabeled in the queue
    written = r0['lut'].abs().sum(dim=1) > 0
    assert written.tolist() == [True, True, False, True]
    assert int(r0['queue_ptr']) == 2
    # ... and equal to one process over the same global batch (rank order)
    single = OIMLoss(4, 3, embed_dim=2)
    batches = [_rank_batch(rank) for rank in range(2)]
    single(torch.cat([b[0] for b in batches]),
           torch.cat([b[1] for b in batches]))
    for key, value in single.state_dict().items():
        torch.testing.assert_close(r0[key], value, msg=key)


def test_lut_update_matches_sequential_loop():
    oim = OIMLoss(6, 0, embed_dim=4)
    oim.lut[:3] = F.normalize(torch.randn(3, 4), dim=1)
    x = F.normalize(torch.randn(20, 4), dim=1)
    labels = torch.randint(0, 6, (20, ))
    expected = oim.lut.clone()
    for feat, label in zip(x, labels.tolist()):
        row = 0.5 * expected[label] + 0.5 * feat
        expected[label] = row / row.norm()
    oim(x, labels)
    assert torch.allclose(oim.lut, expected, atol=1e-6)
