"""SeqNeXt training crops: RFC, RFC2, RSC, min-size padding and visibility.

gfn_seqnext.md §4.2 (augmentation) and §8.2 decision 17. The crops never drop
a box: they clip the boxes to the crop window and record, per instance, the
fraction of the annotated area still visible in ``gt_visibility``;
:class:`FilterByVisibility` then drops the barely visible instances together
with all of their per-instance fields (``min_visibility`` of albumentations).
A typical ``rrc2`` pipeline (crop 640)::

    dict(type='Resize', scale=(1500, 900), keep_ratio=True),   # WRS
    dict(type='PadToMinSize', min_size=1920, pad_val=0),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomFocusedCrop', crop_size=640, fit_person=True)],
        [dict(type='RandomSafeCrop', crop_size=640, erosion_rate=0.1)]]),
    dict(type='FilterByVisibility', min_visibility=0.6),
    dict(type='RandomFlip', prob=0.5),
"""
import math
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmdet.structures.bbox import autocast_box_type

from mmqgn.registry import TRANSFORMS

#: per-instance keys filtered together with ``gt_bboxes``.
INSTANCE_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags',
                 'gt_person_ids', 'gt_person_labels', 'gt_instances_ids',
                 'gt_visibility')

Window = Tuple[int, int, int, int]  # x1, y1, width, height (pixels)


def _paste_window(img: np.ndarray, window: Window,
                  pad_val: Union[float, Sequence[float]]) -> np.ndarray:
    """Cut ``window`` out of ``img`` (H, W[, C]); parts of the window outside
    the image are filled with ``pad_val``."""
    x1, y1, w, h = window
    out = np.empty((h, w) + img.shape[2:], dtype=img.dtype)
    out[...] = pad_val
    sx1, sy1 = max(x1, 0), max(y1, 0)
    sx2, sy2 = min(x1 + w, img.shape[1]), min(y1 + h, img.shape[0])
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = img[sy1:sy2, sx1:sx2]
    return out


def _compose_homography(results: dict, matrix: np.ndarray) -> None:
    old = results.get('homography_matrix')
    results['homography_matrix'] = matrix if old is None else matrix @ old


def crop_and_resize(results: dict,
                    window: Window,
                    out_size: Optional[Tuple[int, int]] = None,
                    pad_val: Union[float, Sequence[float]] = 0,
                    interpolation: str = 'bilinear') -> dict:
    """Crop ``window`` (x1, y1, w, h), then resize to ``out_size`` (w, h).

    Boxes are translated, clipped to the window and rescaled; none is
    dropped. ``gt_visibility`` (N,) float32 is multiplied by the visible
    fraction of each box's area (it starts at 1). ``img_shape``,
    ``scale_factor`` (multiplied by the resize ratios) and
    ``homography_matrix`` are updated.
    """
    x1, y1, w, h = window
    img = _paste_window(results['img'], window, pad_val)
    _compose_homography(
        results, np.array([[1, 0, -x1], [0, 1, -y1], [0, 0, 1]], np.float32))
    boxes = results.get('gt_bboxes')
    if boxes is not None:
        area = boxes.areas.numpy()
        boxes.translate_([-x1, -y1])
        boxes.clip_((h, w))
        vis = np.where(area > 0,
                       boxes.areas.numpy() / np.maximum(area, 1e-12),
                       0.0).astype(np.float32)
        old = results.get('gt_visibility', np.ones(len(vis), np.float32))
        results['gt_visibility'] = old * vis
    if out_size is not None and tuple(out_size) != (w, h):
        sx, sy = out_size[0] / w, out_size[1] / h
        img = mmcv.imresize(img, tuple(out_size), interpolation=interpolation)
        if boxes is not None:
            boxes.rescale_((sx, sy))
        sf = results.get('scale_factor', (1.0, 1.0))
        results['scale_factor'] = (sf[0] * sx, sf[1] * sy)
        _compose_homography(
            results, np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], np.float32))
    results['img'] = img
    results['img_shape'] = img.shape[:2]
    return results


def _known_mask(results: dict, num: int) -> np.ndarray:
    """Labeled persons: OIM label (else person id) >= 0."""
    for key in ('gt_person_labels', 'gt_person_ids'):
        if results.get(key) is not None:
            return np.asarray(results[key]) >= 0
    return np.ones(num, dtype=bool)


@TRANSFORMS.register_module()
class RandomFocusedCrop(BaseTransform):
    """Random Focused Crop (RFC / RFC2), gfn_seqnext.md §4.2.

    A square window that contains one randomly chosen **known** person
    (``gt_person_labels >= 0``). For a box (x, y, w, h), side s, image W::

        lb = min(floor(x), floor(max(0, x + w - s)))
        x1 ~ U{lb, max(lb, floor(min(W - s, x)))}     # likewise for y1

    RFC (``fit_person=False``): s = crop_size, no resize. RFC2
    (``fit_person=True``): s = max(crop_size, floor(max(w, h))), so the focused
    person is never clipped, then the window is resized to crop_size².
    Without a known person the window goes anywhere. Window parts outside
    the image are filled with ``pad_val`` (use :class:`PadToMinSize` first,
    as the reference does).

    Required keys: img, gt_bboxes (HorizontalBoxes), gt_person_labels or
    gt_person_ids (optional). Modified: img, img_shape, gt_bboxes,
    scale_factor, homography_matrix. Added: gt_visibility.

    Args:
        crop_size (int): output side (512 baseline, 640 final).
        fit_person (bool): RFC2 when True. Defaults to False.
        pad_val (float): fill value outside the image. Defaults to 0.
        interpolation (str): resize interpolation for RFC2.
    """

    def __init__(self,
                 crop_size: int,
                 fit_person: bool = False,
                 pad_val: float = 0,
                 interpolation: str = 'bilinear') -> None:
        assert crop_size > 0
        self.crop_size = crop_size
        self.fit_person = fit_person
        self.pad_val = pad_val
        self.interpolation = interpolation

    @staticmethod
    def _offset(lo: float, extent: float, side: int, size: int) -> int:
        """Random window start along one axis for a box [lo, lo+extent)."""
        lb = min(math.floor(lo), math.floor(max(0.0, lo + extent - side)))
        ub = max(lb, math.floor(min(size - side, lo)))
        return int(np.random.randint(lb, ub + 1))

    @cache_randomness
    def _sample_window(self, img_hw: Tuple[int, int], boxes: np.ndarray,
                       known: np.ndarray) -> Window:
        """(x1, y1, s, s) for image (H, W) and boxes (N, 4) xyxy."""
        img_h, img_w = img_hw
        candidates = np.flatnonzero(known)
        if len(candidates) == 0:
            s = self.crop_size
            return (int(np.random.randint(0,
                                          max(img_w - s, 0) + 1)),
                    int(np.random.randint(0,
                                          max(img_h - s, 0) + 1)), s, s)
        x1, y1, x2, y2 = boxes[np.random.choice(candidates)]
        w, h = x2 - x1, y2 - y1
        s = self.crop_size
        if self.fit_person:
            s = max(s, int(math.floor(max(w, h))))
        return (self._offset(x1, w, s, img_w), self._offset(y1, h, s,
                                                            img_h), s, s)

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        boxes = results.get('gt_bboxes')
        arr = np.zeros((0, 4)) if boxes is None else boxes.numpy()
        window = self._sample_window(results['img'].shape[:2], arr,
                                     _known_mask(results, len(arr)))
        out = (self.crop_size, self.crop_size) if self.fit_person else None
        return crop_and_resize(results, window, out, self.pad_val,
                               self.interpolation)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'fit_person={self.fit_person}, pad_val={self.pad_val})')


@TRANSFORMS.register_module()
class RandomFocusedCrop2(RandomFocusedCrop):
    """RFC2: :class:`RandomFocusedCrop` with ``fit_person=True``."""

    def __init__(self, crop_size: int, **kwargs) -> None:
        kwargs.setdefault('fit_person', True)
        super().__init__(crop_size, **kwargs)


@TRANSFORMS.register_module()
class RandomSafeCrop(BaseTransform):
    """Random Safe Crop (RSC), gfn_seqnext.md §4.2.

    albumentations ``RandomSizedBBoxSafeCrop(crop, crop, erosion_rate)`` in
    pixel coordinates: take the union (X1, Y1, X2, Y2) of all boxes, each
    shrunk by ``erosion_rate`` of its width/height on every side; extend it
    toward the borders by uniform fractions::

        x1 = floor(X1 * u1), y1 = floor(Y1 * u2),
        x2 = ceil(X2 + (W - X2) * u3), y2 = ceil(Y2 + (H - Y2) * u4)

    crop, and resize to crop_size² **without** keeping the aspect ratio.
    The eroded core of every box stays inside the crop, so no box is lost
    (a box can lose at most ``erosion_rate`` of its extent per side).
    Without boxes: a random window of height U{floor(H(1-e)), H} with the
    image aspect ratio (albumentations' fallback).

    Required keys: img, gt_bboxes. Modified: img, img_shape, gt_bboxes,
    scale_factor, homography_matrix. Added: gt_visibility.

    Args:
        crop_size (int): output side.
        erosion_rate (float): Defaults to 0.1.
        interpolation (str): Defaults to 'bilinear'.
    """

    def __init__(self,
                 crop_size: int,
                 erosion_rate: float = 0.1,
                 interpolation: str = 'bilinear') -> None:
        assert crop_size > 0 and 0 <= erosion_rate < 0.5
        self.crop_size = crop_size
        self.erosion_rate = erosion_rate
        self.interpolation = interpolation

    def _eroded_union(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy -> union (4,) of the eroded boxes."""
        wh = boxes[:, 2:] - boxes[:, :2]
        lo = boxes[:, :2] + self.erosion_rate * wh
        hi = boxes[:, 2:] - self.erosion_rate * wh
        return np.concatenate([lo.min(0), hi.max(0)])

    @cache_randomness
    def _sample_window(self, img_hw: Tuple[int, int],
                       boxes: np.ndarray) -> Window:
        img_h, img_w = img_hw
        if len(boxes) == 0:
            min_h = int(img_h * (1.0 - self.erosion_rate))
            h = int(np.random.randint(min_h, img_h + 1))
            w = max(1, int(h * img_w / img_h))
            return (int(np.random.randint(0, img_w - w + 1)),
                    int(np.random.randint(0, img_h - h + 1)), w, h)
        ux1, uy1, ux2, uy2 = np.clip(self._eroded_union(boxes), 0,
                                     [img_w, img_h, img_w, img_h])
        u = np.random.uniform(size=4)
        x1, y1 = math.floor(ux1 * u[0]), math.floor(uy1 * u[1])
        x2 = min(img_w, math.ceil(ux2 + (img_w - ux2) * u[2]))
        y2 = min(img_h, math.ceil(uy2 + (img_h - uy2) * u[3]))
        return x1, y1, max(x2 - x1, 1), max(y2 - y1, 1)

    @autocast_box_type()
    def transform(self, results: dict) -> dict:
        boxes = results.get('gt_bboxes')
        arr = np.zeros((0, 4)) if boxes is None else boxes.numpy()
        window = self._sample_window(results['img'].shape[:2], arr)
        return crop_and_resize(results,
                               window, (self.crop_size, self.crop_size),
                               interpolation=self.interpolation)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'erosion_rate={self.erosion_rate})')


@TRANSFORMS.register_module()
class PadToMinSize(BaseTransform):
    """Pad, centred, to at least ``min_size`` x ``min_size``.

    gfn_seqnext.md §4.2: ``rrc`` pads to crop² with the mean colour,
    ``rrc2`` to (3 crop)² with black (0 in 0-255 pixel space). As in the GFN
    code (albumentations ``PadIfNeeded``, position ``center``), a side short
    by ``d`` pixels gets ``d // 2`` before (top / left) and the rest after,
    so the image lies in the middle and RSC can zoom out into borders on
    all four sides. Boxes and ``homography_matrix`` move with the image;
    ``img_shape`` and ``pad_shape`` become the padded shape. Larger images
    are left as they are.

    Args:
        min_size (int): minimal height and width.
        pad_val (float | tuple): image fill value (per channel if a tuple).
    """

    def __init__(self,
                 min_size: int,
                 pad_val: Union[float, Sequence[float]] = 0) -> None:
        if not isinstance(pad_val, (int, float)):
            pad_val = tuple(pad_val)
        self.min_size = min_size
        self.pad_val = pad_val

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        dh, dw = max(self.min_size - h, 0), max(self.min_size - w, 0)
        top, left = dh // 2, dw // 2
        if dh or dw:
            img = mmcv.impad(
                img, padding=(left, top, dw - left, dh - top),
                pad_val=self.pad_val)
            if results.get('gt_bboxes') is not None:
                results['gt_bboxes'].translate_([left, top])
            _compose_homography(
                results,
                np.array([[1, 0, left], [0, 1, top], [0, 0, 1]], np.float32))
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['pad_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_size={self.min_size}, '
                f'pad_val={self.pad_val})')


@TRANSFORMS.register_module()
class FilterByVisibility(BaseTransform):
    """Drop instances whose visible area fraction is below a threshold.

    gfn_seqnext.md §4.2: ``min_visibility`` 0.6 (rrc2) / 0.4 (rrc, wrs).
    Uses ``gt_visibility`` written by the crops (all kept when absent);
    instances with no visible area are always dropped. Every per-instance
    key in ``instance_keys`` present in ``results`` is filtered together.

    Args:
        min_visibility (float): keep if visibility >= this.
        instance_keys (Sequence[str]): defaults to :data:`INSTANCE_KEYS`.
    """

    def __init__(self,
                 min_visibility: float,
                 instance_keys: Sequence[str] = INSTANCE_KEYS) -> None:
        self.min_visibility = min_visibility
        self.instance_keys = tuple(instance_keys)

    def transform(self, results: dict) -> dict:
        vis = results.get('gt_visibility')
        if vis is None:
            return results
        keep = (vis >= self.min_visibility) & (vis > 0)
        for key in self.instance_keys:
            if results.get(key) is not None:
                results[key] = results[key][keep]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}'
                f'(min_visibility={self.min_visibility})')
