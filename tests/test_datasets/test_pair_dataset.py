"""PersonSearchPairDataset: same-person query-gallery pairs (qgn_qeeps.md §8.3,
T4) with one shared flip per pair, and the pair batch convention."""
import os.path as osp
from collections import Counter

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmqgn.datasets.pair_dataset import PersonSearchPairDataset
from mmqgn.models.data_preprocessors import PairDataPreprocessor
from mmqgn.registry import DATASETS
from mmqgn.utils import register_all_modules

register_all_modules()

ROOT = osp.join(osp.dirname(__file__), '..', '..')


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pipeline(flip_prob=0.5):
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadPersonSearchAnnotations', with_bbox=True),
        dict(type='Resize', scale=(160, 120), keep_ratio=True),
        dict(type='RandomFlip', prob=flip_prob),
        dict(type='PackPersonSearchInputs')
    ]


def _dataset(root, name='CUHK-SYSU', flip_prob=0.5, **kwargs):
    return PersonSearchPairDataset(
        data_root=str(root / name),
        ann_file='annotations/trainval.json',
        data_prefix=dict(img=''),
        pipeline=_pipeline(flip_prob),
        **kwargs)


def _labels(scene):
    return {inst['person_label'] for inst in scene['instances']}


def test_all_ordered_same_person_pairs(synthetic_root):
    ds = _dataset(synthetic_root)
    pairs = [ds.get_data_info(i) for i in range(len(ds))]
    assert pairs
    seen = set()
    for pair in pairs:
        q, g = pair['query'], pair['gallery']
        (inst, ) = q['instances']
        assert inst['person_label'] >= 0 and q['is_query']
        assert q['img_id'] != g['img_id'] and not g['is_query']
        assert inst['person_label'] in _labels(g)
        assert q['query_ann_id'] == g['query_ann_id'] == inst['ann_id']
        seen.add((inst['ann_id'], g['img_id']))
    assert len(seen) == len(pairs)  # no duplicates
    # exactly: every labelled box x every other frame of its identity
    frames = {}
    for scene in ds.scenes:
        for label in _labels(scene) - {-1}:
            frames.setdefault(label, set()).add(scene['img_id'])
    expected = sum(
        len(frames[inst['person_label']]) - 1 for scene in ds.scenes
        for inst in scene['instances'] if inst['person_label'] >= 0)
    assert len(pairs) == expected
    # ordered: (a in i, j) and (b in j, i) are both present
    img_pairs = Counter((p['query']['img_id'], p['gallery']['img_id'])
                        for p in pairs)
    assert all((j, i) in img_pairs for i, j in img_pairs)


def test_pairs_per_query_deterministic(synthetic_root):
    ds = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=1)
    again = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=1)
    other = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=2)
    full = _dataset(synthetic_root, 'PRW')

    def keys(d):
        return [(p['query']['query_ann_id'], p['gallery']['img_id'])
                for p in map(d.get_data_info, range(len(d)))]

    per_query = Counter(q for q, _ in keys(ds))
    assert max(per_query.values()) == 3
    assert set(keys(ds)) <= set(keys(full)) and len(ds) < len(full)
    assert keys(ds) == keys(again)
    assert keys(ds) != keys(other)
    # every labelled box with another frame of its identity is a query
    assert set(per_query) == {q for q, _ in keys(full)}


def test_shared_flip_and_query_box(synthetic_root):
    plain = _dataset(synthetic_root, flip_prob=0.0)
    flipped = _dataset(synthetic_root, flip_prob=1.0)
    for idx in (0, len(plain) // 2, len(plain) - 1):
        a, b = plain[idx], flipped[idx]
        info = plain.get_data_info(idx)
        for side in ('query', 'gallery'):
            sa, sb = a['data_samples'][side], b['data_samples'][side]
            assert not sa.flip and sb.flip
            w = sa.img_shape[1]
            box_a = sa.gt_instances.bboxes.tensor
            box_b = sb.gt_instances.bboxes.tensor
            torch.testing.assert_close(box_b[:, [2, 0]], w - box_a[:, [0, 2]])
            torch.testing.assert_close(b['inputs'][side],
                                       a['inputs'][side].flip(-1))
        # the query box is the annotated box, resized
        qs = a['data_samples']['query']
        scale = torch.tensor(qs.scale_factor * 2)
        ann_box = torch.tensor(info['query']['instances'][0]['bbox'])
        torch.testing.assert_close(qs.gt_instances.bboxes.tensor[0],
                                   ann_box * scale)
        assert qs.gt_instances.person_labels.tolist() == [
            info['query']['instances'][0]['person_label']
        ]
        assert qs.is_query and not a['data_samples']['gallery'].is_query
    # random flips: one decision per pair, both outcomes occur
    ds = _dataset(synthetic_root, flip_prob=0.5)
    np.random.seed(0)
    flips = []
    for idx in range(16):
        item = ds[idx]
        q, g = item['data_samples']['query'], item['data_samples']['gallery']
        assert q.flip == g.flip
        flips.append(g.flip)
    assert 0 < sum(flips) < len(flips)


def test_pair_batch_convention(synthetic_root):
    ds = _dataset(synthetic_root)
    items = [ds[0], ds[7]]
    pre = PairDataPreprocessor(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True, pad_size_divisor=32)
    out = pre(pseudo_collate(items), True)
    inputs, samples = out['inputs'], out['data_samples']
    assert inputs.shape[:2] == (4, 3) and inputs.shape[2] % 32 == 0
    assert [s.is_query for s in samples] == [True, True, False, False]
    for b, item in enumerate(items):
        assert samples[b].img_id == item['data_samples']['query'].img_id
        assert samples[2 + b].img_id == item['data_samples']['gallery'].img_id
        assert samples[b].query_ann_id == samples[2 + b].query_ann_id
        assert samples[2 + b].batch_input_shape == tuple(inputs.shape[2:])
    # a plain (non-pair) batch passes through unchanged
    plain = pre(dict(inputs=[items[0]['inputs']['gallery']],
                     data_samples=[items[0]['data_samples']['gallery']]))
    assert plain['inputs'].shape[0] == 1


def test_tiny_config_builds_the_pair_dataset(synthetic_root):
    cfg = Config.fromfile(osp.join(ROOT, 'configs/qgn/qgn_tiny_synthetic.py'))
    dcfg = cfg.train_dataloader.dataset
    dcfg.data_root = str(synthetic_root / 'CUHK-SYSU')
    ds = DATASETS.build(dcfg)
    assert isinstance(ds, PersonSearchPairDataset) and len(ds) > 0
    item = ds[0]
    assert set(item['inputs']) == {'query', 'gallery'}


# ----------------------------------------------- per-epoch draw, doubling
def _keys(ds):
    """(query ann id, gallery image id, flip) of every item, in order."""
    return [(p['query']['query_ann_id'], p['gallery']['img_id'], p['flip'])
            for p in map(ds.get_data_info, range(len(ds)))]


def _check_same_person(ds):
    for i in range(len(ds)):
        p = ds.get_data_info(i)
        (inst, ) = p['query']['instances']
        assert p['query']['img_id'] != p['gallery']['img_id']
        assert inst['person_label'] >= 0
        assert inst['person_label'] in _labels(p['gallery'])


@pytest.mark.parametrize('serialize', [True, False])
def test_prw_pairs_redrawn_every_epoch(synthetic_root, serialize):
    ds = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=1,
                  serialize_data=serialize)
    epoch0 = _keys(ds)
    assert ds.set_epoch(0) is False and _keys(ds) == epoch0
    assert ds.set_epoch(1) is True
    epoch1 = _keys(ds)
    assert len(epoch1) == len(epoch0) and epoch1 != epoch0
    # same queries, at most 3 galleries each, same count per query
    assert Counter(k[0] for k in epoch1) == Counter(k[0] for k in epoch0)
    assert max(Counter(k[0] for k in epoch1).values()) == 3
    _check_same_person(ds)
    # deterministic in (seed, epoch): a fresh dataset, and going back
    fresh = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=1)
    fresh.set_epoch(1)
    assert _keys(fresh) == epoch1
    ds.set_epoch(0)
    assert _keys(ds) == epoch0
    other_seed = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=2)
    other_seed.set_epoch(1)
    assert _keys(other_seed) != epoch1


def test_all_pairs_do_not_depend_on_epoch(synthetic_root):
    ds = _dataset(synthetic_root)
    before = _keys(ds)
    assert ds.set_epoch(3) is False and _keys(ds) == before


def test_flip_doubling(synthetic_root):
    plain = _dataset(synthetic_root, 'PRW', pairs_per_query=3,
                     flip_prob=0.0)
    doubled = _dataset(synthetic_root, 'PRW', pairs_per_query=3,
                       flip_prob=0.5, flip_doubling=True)
    n = len(plain)
    assert len(doubled) == 2 * n
    keys = _keys(doubled)
    assert [k[:2] for k in keys[:n]] == [k[:2] for k in keys[n:]] == \
        [k[:2] for k in _keys(plain)]
    assert [k[2] for k in keys] == [False] * n + [True] * n
    _check_same_person(doubled)
    np.random.seed(0)
    for idx in (0, n - 1):
        ref = plain[idx]
        unflipped, flipped = doubled[idx], doubled[n + idx]
        for side in ('query', 'gallery'):
            assert not unflipped['data_samples'][side].flip
            assert flipped['data_samples'][side].flip
            torch.testing.assert_close(unflipped['inputs'][side],
                                       ref['inputs'][side])
            torch.testing.assert_close(flipped['inputs'][side],
                                       ref['inputs'][side].flip(-1))
    # doubling survives the per-epoch redraw; the copies stay aligned
    assert doubled.set_epoch(1)
    keys = _keys(doubled)
    assert len(keys) == 2 * n
    assert [k[:2] for k in keys[:n]] == [k[:2] for k in keys[n:]]


def test_flip_doubling_needs_a_flip(synthetic_root):
    pipeline = [t for t in _pipeline() if t['type'] != 'RandomFlip']
    with pytest.raises(ValueError, match='RandomFlip'):
        PersonSearchPairDataset(
            data_root=str(synthetic_root / 'CUHK-SYSU'),
            ann_file='annotations/trainval.json',
            data_prefix=dict(img=''),
            pipeline=pipeline,
            flip_doubling=True)


def _worker_keys(loader):
    return [(item['data_samples']['query'].query_ann_id,
             item['data_samples']['gallery'].img_id) for batch in loader
            for item in batch]


@pytest.mark.parametrize('workers', [0, 1])
def test_resample_hook_reaches_the_workers(synthetic_root, workers):
    """PairResampleHook: the runner's epoch drives the draw, also inside
    persistent dataloader workers."""
    from types import SimpleNamespace

    from torch.utils.data import DataLoader

    from mmqgn.engine import PairResampleHook
    ds = _dataset(synthetic_root, 'PRW', pairs_per_query=3, seed=1,
                  flip_prob=0.0)
    sub = list(range(0, len(ds), max(1, len(ds) // 6)))
    loader = DataLoader(ds, batch_size=2, sampler=sub,
                        collate_fn=list, num_workers=workers,
                        persistent_workers=workers > 0)

    def expected():
        return [(ds.get_data_info(i)['query']['query_ann_id'],
                 ds.get_data_info(i)['gallery']['img_id']) for i in sub]

    hook = PairResampleHook()
    runs = []
    for epoch in (0, 1, 0):
        runner = SimpleNamespace(
            epoch=epoch, train_loop=SimpleNamespace(dataloader=loader))
        hook.before_train_epoch(runner)
        assert ds.epoch == epoch
        runs.append(_worker_keys(loader))
        assert runs[-1] == expected()
    assert runs[0] != runs[1] and runs[0] == runs[2]
