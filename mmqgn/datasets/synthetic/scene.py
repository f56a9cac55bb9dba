"""Scenes: cluttered backgrounds, lighting, placing and occluding people.

A background is a sky / ground gradient with buildings, windows, lines and
texture noise in muted, low-saturation colours; a place (scene context) is a
panorama of which each scene shows a random window. People are placed with
little overlap, drawn back to front, and sometimes partly hidden by an
occluder.
"""
from typing import List

import cv2
import numpy as np

from .appearance import sample_distractor, sample_pose
from .person import int_point, render_person

OCCLUSION_PROB = 0.25
OCCLUDED_BELOW = 0.9  # visible fraction below which a person is occluded
MAX_OVERLAP = 0.25  # max intersection / smaller box area when placing people
PLACE_PANORAMA = 1.5  # panorama width of a place / image width


def _muted(rng: np.random.Generator) -> np.ndarray:
    """A low-saturation colour."""
    return rng.uniform(70, 180) + rng.uniform(-18, 18, size=3)


def _draw_buildings(rng: np.random.Generator, img: np.ndarray, horizon: int):
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(2, 6))):
        bw, bh = rng.uniform(0.15, 0.5) * w, rng.uniform(0.1, 0.45) * h
        x = rng.uniform(-0.1 * w, w)
        cv2.rectangle(img, int_point(x, horizon - bh),
                      int_point(x + bw, horizon), tuple(_muted(rng)), -1)
        win, step = max(2, int(0.06 * bh)), max(4, int(0.16 * bh))
        color = tuple(_muted(rng))
        for wy in range(int(horizon - bh) + step // 2, horizon - win, step):
            for wx in range(int(x) + step // 2, int(x + bw) - win, step):
                cv2.rectangle(img, (wx, wy), (wx + win, wy + win), color, -1)


def _draw_lines(rng: np.random.Generator, img: np.ndarray):
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(1, 5))):
        p1 = int_point(rng.uniform(0, w), rng.uniform(0, h))
        p2 = int_point(rng.uniform(0, w), rng.uniform(0, h))
        cv2.line(img, p1, p2, tuple(_muted(rng)), int(rng.integers(1, 3)))


def make_background(rng: np.random.Generator, width: int,
                    height: int) -> np.ndarray:
    """Sky / ground gradients, buildings with windows, lines, noise."""
    horizon = int(height * rng.uniform(0.3, 0.6))
    ramp = np.linspace(1.1, 0.9, height)[:, None]
    sky, ground = _muted(rng), _muted(rng)
    rows = np.where(
        np.arange(height)[:, None] < horizon, sky * ramp,
        ground * (2 - ramp))
    img = np.repeat(rows[:, None, :], width, axis=1).astype(np.float32)
    _draw_buildings(rng, img, horizon)
    _draw_lines(rng, img)
    noise = rng.normal(0, 7, size=(height // 4 + 1, width // 4 + 1, 3))
    img += cv2.resize(noise.astype(np.float32), (width, height))
    return img


def place_background(seed: int, width: int, height: int,
                     rng: np.random.Generator) -> np.ndarray:
    """A random window of the panorama of place ``seed`` (a camera pan)."""
    pano = make_background(np.random.default_rng(seed),
                           int(width * PLACE_PANORAMA), height)
    x = int(rng.integers(0, pano.shape[1] - width + 1))
    return pano[:, x:x + width].copy()


def sample_lighting(rng: np.random.Generator) -> tuple:
    """A per-channel gain (brightness x colour cast) and offset."""
    gain = rng.uniform(0.75, 1.15) * rng.uniform(0.9, 1.1, size=3)
    return gain, rng.uniform(-12, 12, size=3)


def _overlap(a: tuple, b: tuple) -> float:
    """Intersection over the smaller area of two [x, y, w, h] boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0, iw) * max(0, ih) / min(a[2] * a[3], b[2] * b[3])


def _place(rng: np.random.Generator, shape: tuple, size: tuple,
           placed: list) -> tuple:
    """A box for a ``shape`` (h, w) crop, avoiding the placed boxes."""
    (h, w), (width, height) = shape, size
    best, best_cost = None, np.inf
    for _ in range(40):
        x = int(rng.integers(0, width - w + 1))
        y = int(rng.integers((height - h) // 3, height - h + 1))
        cost = max([_overlap((x, y, w, h), b) for b in placed], default=0)
        if cost < best_cost:
            best, best_cost = (x, y, w, h), cost
        if cost <= MAX_OVERLAP:
            break
    return best


def _draw_occluder(rng: np.random.Generator, img: np.ndarray,
                   owner: np.ndarray, box: tuple):
    """A muted object (car, bench, wall, pillar) in front of a person."""
    x, y, w, h = box
    if rng.random() < 0.6:  # from below, hiding the legs
        frac = rng.uniform(0.2, 0.45)
        p1 = (x - rng.uniform(0, 0.4) * w, y + (1 - frac) * h)
        p2 = (x + w * (1 + rng.uniform(0, 0.4)), y + h * rng.uniform(1, 1.1))
    else:  # from one side, hiding up to ~30 % of the box width
        frac = rng.uniform(0.12, 0.3)
        edge = x if rng.random() < 0.5 else x + w
        inner = edge + (frac * w if edge == x else -frac * w)
        outer = edge - (0.15 * w if edge == x else -0.15 * w)
        p1, p2 = (min(inner, outer), y - 0.1 * h), (max(inner, outer), y + h)
    p1, p2 = int_point(*p1), int_point(*p2)
    cv2.rectangle(img, p1, p2, tuple(_muted(rng)), -1)
    cv2.rectangle(img, p1, p2, tuple(0.7 * _muted(rng)), 1)
    cv2.rectangle(owner, p1, p2, -1, -1)


def render_scene(rng: np.random.Generator, background: np.ndarray,
                 lighting: tuple, people: List[tuple]):
    """Compose ``people`` [(appearance, pose, height)] on a background.

    Returns the uint8 RGB image, the ``[x, y, w, h]`` boxes and the visible
    fraction of each person (after other people and occluders).
    """
    height, width = background.shape[:2]
    crops = [render_person(*p) for p in people]
    boxes = [None] * len(crops)
    for i in np.argsort([-c[1].sum() for c in crops], kind='stable'):
        boxes[i] = _place(rng, crops[i][1].shape, (width, height),
                          [b for b in boxes if b is not None])
    img, owner = background.copy(), np.full((height, width), -1, np.int32)
    for i in np.argsort([b[1] + b[3] for b in boxes], kind='stable'):
        x, y, w, h = boxes[i]
        mask = crops[i][1]
        img[y:y + h, x:x + w][mask] = crops[i][0][mask]
        owner[y:y + h, x:x + w][mask] = i
    for box in boxes:
        if rng.random() < OCCLUSION_PROB:
            _draw_occluder(rng, img, owner, box)
    visible = [float((owner == i).sum() / c[1].sum()) for i, c in
               enumerate(crops)]
    img = img * lighting[0] + lighting[1] + rng.normal(0, 3, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), boxes, visible


def sample_heights(rng: np.random.Generator, num: int,
                   img_height: int) -> np.ndarray:
    """Person heights, 35 %-85 % of the image (smaller in crowded scenes)."""
    top = 0.85 - 0.08 * max(0, num - 2)
    return rng.uniform(0.35, max(0.45, top), size=num) * img_height


def render_planned(rng: np.random.Generator, scene: dict,
                   identities: List[dict], background: np.ndarray,
                   lighting: tuple):
    """Render a planned scene; people get ids (-1: unlabelled) and boxes."""
    taken = {(a['torso'], a['legs']) for a in identities}
    labels = list(scene['ids']) + [-1] * scene['n_unlabeled']
    labels = [labels[i] for i in rng.permutation(len(labels))]
    apps = [identities[i] if i >= 0 else sample_distractor(rng, taken)
            for i in labels]
    heights = sample_heights(rng, len(apps), background.shape[0])
    people = [(a, sample_pose(rng), h) for a, h in zip(apps, heights)]
    img, boxes, visible = render_scene(rng, background, lighting, people)
    return img, [dict(id=i, box=b, visible=v)
                 for i, b, v in zip(labels, boxes, visible)]
