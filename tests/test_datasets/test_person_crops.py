"""SeqNeXt crops (gfn_seqnext.md §4.2) on hand-made images and boxes."""
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from mmqgn.datasets.transforms.person_crops import (FilterByVisibility,
                                                    PadToMinSize,
                                                    RandomFocusedCrop,
                                                    RandomFocusedCrop2,
                                                    RandomSafeCrop)
from mmqgn.registry import TRANSFORMS


def make_results(boxes, labels, h=300, w=400):
    """Image whose pixel (y, x) has red = x % 256, green = y % 256."""
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([xx % 256, yy % 256, np.full_like(xx, 7)], -1)
    n = len(boxes)
    return dict(img=img.astype(np.uint8),
                img_shape=(h, w),
                scale_factor=(1.0, 1.0),
                gt_bboxes=HorizontalBoxes(np.asarray(boxes, np.float32)),
                gt_bboxes_labels=np.zeros(n, np.int64),
                gt_ignore_flags=np.zeros(n, bool),
                gt_person_ids=np.asarray([
                    10 + i if lab >= 0 else -1 for i, lab in enumerate(labels)
                ]),
                gt_person_labels=np.asarray(labels, np.int64))


def inside(box, hw, tol=1e-4):
    return (box[0] >= -tol and box[1] >= -tol and box[2] <= hw[1] + tol
            and box[3] <= hw[0] + tol)


def test_registered():
    for name in ('RandomFocusedCrop', 'RandomFocusedCrop2', 'RandomSafeCrop',
                 'PadToMinSize', 'FilterByVisibility'):
        assert TRANSFORMS.get(name) is not None


def test_rfc_contains_known_person():
    # only box 1 is known; boxes 0 and 2 are unknown persons
    boxes = [[0, 0, 30, 60], [200, 100, 240, 200], [360, 200, 400, 300]]
    t = RandomFocusedCrop(crop_size=128)
    for seed in range(20):
        np.random.seed(seed)
        r = t(make_results(boxes, [-1, 3, -1]))
        assert r['img'].shape == (128, 128, 3)
        assert r['img_shape'] == (128, 128)
        assert len(r['gt_bboxes']) == 3  # crops never drop instances
        focus = r['gt_bboxes'].numpy()[1]
        np.testing.assert_allclose(focus[2:] - focus[:2], [40, 100])
        assert inside(focus, (128, 128))
        assert r['gt_visibility'][1] == 1
        # the image moved with the box: pixel red = x + offset
        x0 = 200 - focus[0]
        assert r['img'][0, 0, 0] == x0 and r['gt_person_labels'][1] == 3


def test_rfc_offsets_hand_computed():
    # box x in [50, 90), crop 64, W 400: x1 in [floor(max(0, 26)), 50]
    t = RandomFocusedCrop(crop_size=64)
    seen = set()
    for seed in range(200):
        np.random.seed(seed)
        r = t(make_results([[50, 50, 90, 90]], [0]))
        seen.add(int(50 - r['gt_bboxes'].numpy()[0, 0]))
    assert min(seen) == 26 and max(seen) == 50


def test_rfc2_never_clips_large_person():
    boxes = [[10, 20, 110, 270], [300, 10, 330, 60]]  # 100 x 250 person
    t = TRANSFORMS.build(dict(type='RandomFocusedCrop2', crop_size=128))
    assert isinstance(t, RandomFocusedCrop2) and t.fit_person
    for seed in range(10):
        np.random.seed(seed)
        r = t(make_results(boxes, [0, -1]))
        assert r['img'].shape == (128, 128, 3)
        big = r['gt_bboxes'].numpy()[0]
        # side 250 resized to 128: scale 128/250, the person is whole
        np.testing.assert_allclose(big[3] - big[1], 128.0, atol=1e-4)
        np.testing.assert_allclose(big[2] - big[0], 100 * 128 / 250, atol=1e-4)
        assert r['gt_visibility'][0] == pytest.approx(1.0)
        np.testing.assert_allclose(r['scale_factor'], [128 / 250] * 2)


def test_rfc_without_fit_clips_large_person():
    np.random.seed(0)
    r = RandomFocusedCrop(crop_size=128)(make_results([[10, 20, 110, 270]],
                                                      [0]))
    assert r['gt_visibility'][0] == pytest.approx(128 / 250)


@pytest.mark.parametrize('erosion', [0.0, 0.1])
def test_rsc_keeps_every_box(erosion):
    boxes = np.array(
        [[40, 30, 80, 130], [150, 120, 200, 260], [300, 50, 340, 150]],
        np.float32)
    t = RandomSafeCrop(crop_size=96, erosion_rate=erosion)
    for seed in range(20):
        np.random.seed(seed)
        r = t(make_results(boxes, [0, -1, 1]))
        assert r['img'].shape == (96, 96, 3)
        assert len(r['gt_bboxes']) == 3
        # map the eroded cores into the output; they must lie inside
        hom = r['homography_matrix']
        wh = boxes[:, 2:] - boxes[:, :2]
        core = np.concatenate(
            [boxes[:, :2] + erosion * wh, boxes[:, 2:] - erosion * wh], 1)
        pts = core.reshape(-1, 2)
        mapped = pts * [hom[0, 0], hom[1, 1]] + [hom[0, 2], hom[1, 2]]
        assert (mapped >= -1e-3).all() and (mapped <= 96 + 1e-3).all()
        if erosion == 0:
            assert np.all(r['gt_visibility'] == 1)
        else:
            assert np.all(r['gt_visibility'] >= 0.8 * 0.8 - 1e-6)


def test_rsc_hand_computed_window(monkeypatch):
    # union [40, 30, 340, 260] (no erosion), W 400, H 300;
    # u = 0.5 each: x1 = 20, y1 = 15, x2 = 340 + 30 = 370, y2 = 260 + 20 = 280
    monkeypatch.setattr(np.random, 'uniform', lambda size: np.full(size, .5))
    t = RandomSafeCrop(crop_size=50, erosion_rate=0.0)
    r = t(make_results([[40, 30, 80, 130], [300, 200, 340, 260]], [0, 1]))
    np.testing.assert_allclose(r['scale_factor'], [50 / 350, 50 / 265])
    np.testing.assert_allclose(
        r['gt_bboxes'].numpy()[0],
        [20 * 50 / 350, 15 * 50 / 265, 60 * 50 / 350, 115 * 50 / 265],
        rtol=1e-5)


def test_pad_to_min_size():
    # centred as the GFN code (albumentations PadIfNeeded): 50 rows short
    # -> 25 above, 25 below (the bottom-only padding of before is gone)
    t = TRANSFORMS.build(dict(type='PadToMinSize', min_size=350, pad_val=0))
    r = t(make_results([[0, 0, 10, 10]], [0]))
    assert r['img'].shape == (350, 400, 3) and r['img_shape'] == (350, 400)
    assert (r['img'][:25] == 0).all() and (r['img'][325:] == 0).all()
    assert tuple(r['img'][25, 5]) == (5, 0, 7)  # original pixel (0, 5)
    assert tuple(r['img'][324, 5]) == (5, 299 % 256, 7)  # (299, 5)
    np.testing.assert_allclose(r['gt_bboxes'].numpy(), [[0, 25, 10, 35]])
    r = PadToMinSize(min_size=100, pad_val=(1, 2, 3))(make_results([], []))
    assert r['img'].shape == (300, 400, 3)


def test_pad_to_min_size_centres_odd_differences_like_pad_if_needed():
    """300 x 400 -> 405 x 405: 105 rows short -> 52 above, 53 below; 5
    columns short -> 2 left, 3 right; the box and the homography follow."""
    r = PadToMinSize(min_size=405, pad_val=(1, 2, 3))(
        make_results([[40, 30, 80, 130]], [0]))
    img = r['img']
    assert img.shape == (405, 405, 3) and r['pad_shape'] == (405, 405)
    fill = np.array([1, 2, 3], np.uint8)
    assert (img[:52] == fill).all() and (img[52 + 300:] == fill).all()
    assert len(img[52 + 300:]) == 53
    assert (img[:, :2] == fill).all() and (img[:, 2 + 400:] == fill).all()
    assert img[:, 2 + 400:].shape[1] == 3
    # original pixel (y, x) lands at (y + 52, x + 2)
    np.testing.assert_array_equal(
        img[52:352, 2:402], make_results([], [])['img'])
    np.testing.assert_allclose(r['gt_bboxes'].numpy(), [[42, 82, 82, 182]])
    assert tuple(img[82, 42]) == (40, 30, 7)  # the box's top-left pixel
    np.testing.assert_allclose(
        r['homography_matrix'], [[1, 0, 2], [0, 1, 52], [0, 0, 1]])


def test_visibility_70_percent_box():
    # window [0, 100)^2; box 1 spans x 72..112: 28/40 = 70% inside;
    # box 2 lies outside (0%).
    boxes = [[10, 10, 50, 50], [72, 20, 112, 60], [150, 150, 190, 190]]
    t = RandomFocusedCrop(crop_size=100)
    monkey = t._sample_window
    t._sample_window = lambda *a: (0, 0, 100, 100)
    base = make_results(boxes, [0, 1, -1])
    r = t(base)
    t._sample_window = monkey
    np.testing.assert_allclose(r['gt_visibility'], [1.0, 0.7, 0.0], atol=1e-6)
    keep = FilterByVisibility(min_visibility=0.6)({
        k: (v.clone() if hasattr(v, 'clone') else v)
        for k, v in r.items()
    })
    assert len(keep['gt_bboxes']) == 2
    np.testing.assert_array_equal(keep['gt_person_ids'], [10, 11])
    np.testing.assert_array_equal(keep['gt_person_labels'], [0, 1])
    drop = TRANSFORMS.build(dict(type='FilterByVisibility',
                                 min_visibility=0.8))(r)
    assert len(drop['gt_bboxes']) == 1
    for key in ('gt_bboxes_labels', 'gt_ignore_flags', 'gt_person_ids',
                'gt_person_labels', 'gt_visibility'):
        assert len(drop[key]) == 1, key
    np.testing.assert_array_equal(drop['gt_person_ids'], [10])
    np.testing.assert_allclose(drop['gt_bboxes'].numpy(), [[10, 10, 50, 50]])


@pytest.mark.parametrize('cfg', [
    dict(type='RandomFocusedCrop', crop_size=64),
    dict(type='RandomFocusedCrop2', crop_size=64),
    dict(type='RandomSafeCrop', crop_size=64)
])
def test_deterministic_under_seed(cfg):
    boxes = [[40, 30, 80, 130], [150, 120, 200, 260]]
    outs = []
    for _ in range(2):
        np.random.seed(123)
        r = TRANSFORMS.build(cfg)(make_results(boxes, [0, 1]))
        outs.append((r['img'], r['gt_bboxes'].numpy()))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
