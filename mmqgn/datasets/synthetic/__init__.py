"""A small, deterministic, learnable synthetic person-search dataset.

:func:`make_synthetic_dataset` writes two datasets under ``out_dir`` in the
*raw release layouts* of CUHK-SYSU and PRW (``docs/data_format.md`` section 1),
so that the dataset converters can be exercised and a model trained end to end
on CPU in minutes:

``CUHK-SYSU/``
    ``Image/SSM/s<k>.jpg``; ``annotation/Images.mat`` (every box, labelled and
    unlabelled), ``annotation/pool.mat`` (test image names),
    ``annotation/test/train_test/Train.mat`` and ``TestG{50,...,4000}.mat``
    (one query per test identity; each gallery lists the images holding the
    person first, then distractors with an empty ``idlocate``, in all
    ``min(G, number of test images - 1)`` images) and
    ``annotation/test/subset/{Occlusion,Resolution}.mat`` (queries whose
    query box is partly hidden / the smallest query boxes; galleries of
    ``min(100, ...)`` images).
``PRW/``
    ``frames/c<cam>s<seq>_<frame:06d>.jpg`` from 6 static cameras (one fixed
    background and colour cast per camera; per camera the sequence and frame
    numbers increase), ``annotations/<frame>.jpg.mat`` (``N x 5``
    ``[pid, x, y, w, h]``, pid -2 for unlabelled people, stored under the keys
    ``box_new``, ``anno_file`` or ``anno_previous``), ``frame_train.mat``,
    ``frame_test.mat`` and ``query_info.txt`` (one query per test identity and
    camera it appears in; CRLF line ends as in the release).

Every scene is a cluttered background (gradient sky and ground, buildings with
windows, lines, texture noise; muted, low-saturation colours) with 2-4 people
drawn with cv2 primitives. Each identity has a fixed look: torso and leg
colours from a well-separated palette (a unique pair per identity), a torso
pattern (solid, horizontal / vertical stripes, checks) with its own second
colour, sleeves, skin, hair, hat, backpack or handbag, and body shape. Pose
(legs, arms, facing), size (35-85 % of the image height), position, small
colour jitter, partial occlusion by scene objects and the scene / camera
lighting vary per appearance. Unlabelled people get random looks whose colour
pair belongs to no identity. Boxes ``[x, y, w, h]`` (integer valued) tightly
bound the drawn person, accessories included, also where the person is
occluded. Train and test identities are disjoint; every identity appears in
several scenes (and PRW cameras).

Scene context (``group_places=N >= 1``, CUHK-SYSU layout): by default every
scene has its own random background, so a scene says nothing about who is in
it. With ``N`` places per identity group, each group of identities (the
people who share scenes) is seen at ``N`` fixed places of its own, the way
real CUHK-SYSU and PRW people recur at the same street or camera: a scene
shows a random window of its place's panorama (a camera pan) under its own
lighting. This is what the Gallery Filter Network learns from
(``gfn_seqnext.md`` section 3). PRW frames already share each camera's
background; ``group_places`` does not change PRW.

All randomness comes from ``numpy.random.default_rng(seed)`` and generators
derived from it, so a seed fixes annotations and pixels.
"""
import math
import os
import os.path as osp
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import cv2
import numpy as np
from scipy.io import savemat

DEFAULT_SIZES = dict(
    img_width=256,
    img_height=192,
    cuhk_train_ids=30,
    cuhk_test_ids=30,
    cuhk_train_scenes=100,
    cuhk_test_scenes=100,
    prw_train_ids=30,
    prw_test_ids=15,
    prw_train_frames=100,
    prw_test_frames=60,
    prw_cameras=6,
    min_people=2,
    max_people=4,
    max_unlabeled=2,
    id_group_size=5,
    group_places=0,
)
OPTIONAL_SIZES = ('max_unlabeled', 'group_places')  # may be 0
DATASETS = ('CUHK-SYSU', 'PRW')
CUHK_GALLERY_SIZES = (50, 100, 500, 1000, 2000, 4000)
SUBSET_GALLERY_SIZE = 100
MIN_APPEARANCES = {'CUHK-SYSU': 2, 'PRW': 3}
# PRW annotation keys, cycled over the sorted frames (mostly 'box_new').
PRW_KEYS = ('box_new', 'box_new', 'anno_file', 'box_new', 'anno_previous')
PRW_FRAMES_PER_SEQ = 12
OCCLUSION_PROB = 0.25
OCCLUDED_BELOW = 0.9  # visible fraction below which a person is occluded
MAX_OVERLAP = 0.25  # max intersection / smaller box area when placing people
PLACE_PANORAMA = 1.5  # panorama width of a place / image width
JPEG_QUALITY = 92

# Clothing colours (RGB), far apart from each other.
PALETTE = (
    (205, 30, 30),  # red
    (30, 150, 45),  # green
    (35, 65, 205),  # blue
    (235, 215, 40),  # yellow
    (40, 205, 215),  # cyan
    (205, 40, 185),  # magenta
    (245, 130, 20),  # orange
    (105, 40, 150),  # purple
    (240, 240, 240),  # white
    (22, 22, 22),  # black
    (120, 70, 30),  # brown
    (250, 160, 195),  # pink
)
SKIN = ((235, 195, 165), (205, 150, 110), (150, 100, 65), (95, 60, 40))
HAIR = ((20, 15, 10), (90, 55, 25), (215, 185, 105), (150, 150, 150))
SHOES = ((25, 25, 25), (240, 240, 240), (110, 65, 30))
PATTERNS = ('solid', 'hstripes', 'vstripes', 'checks')

Progress = Callable[[Iterable, int, str], Iterable]


# ----------------------------------------------------------------- appearance
def child_rng(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator seeded from ``rng``."""
    return np.random.default_rng(int(rng.integers(2**63)))


def sample_appearance(rng: np.random.Generator, torso: int,
                      legs: int) -> dict:
    """A full look (palette / colour-table indices and body shape)."""
    n = len(PALETTE)
    bag = None
    if rng.random() < 0.45:
        kind = 'backpack' if rng.random() < 0.6 else 'handbag'
        bag = (kind, int(rng.integers(n)))
    return dict(
        torso=int(torso),
        legs=int(legs),
        pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        pattern_color=int((torso + rng.integers(1, n)) % n),
        long_sleeves=bool(rng.random() < 0.6),
        skin=int(rng.integers(len(SKIN))),
        hair=int(rng.integers(len(HAIR))),
        shoes=int(rng.integers(len(SHOES))),
        hat=int(rng.integers(n)) if rng.random() < 0.35 else None,
        bag=bag,
        aspect=float(rng.uniform(3.3, 4.5)),  # body height / shoulder width
        head=float(rng.uniform(0.11, 0.145)),  # head height / body height
        leg_frac=float(rng.uniform(0.43, 0.5)),
    )


def sample_identities(rng: np.random.Generator, num: int) -> List[dict]:
    """``num`` looks, with distinct (torso, legs) colours while possible."""
    n = len(PALETTE)
    pairs = [(t, g) for t in range(n) for g in range(n) if t != g]
    order = rng.permutation(len(pairs))
    return [
        sample_appearance(rng, *pairs[order[i % len(pairs)]])
        for i in range(num)
    ]


def sample_distractor(rng: np.random.Generator, taken: set) -> dict:
    """A random look whose colour pair is no identity's (when possible)."""
    n = len(PALETTE)
    for _ in range(100):
        torso, legs = rng.integers(n, size=2)
        if torso != legs and (torso, legs) not in taken:
            break
    return sample_appearance(rng, torso, legs)


def sample_pose(rng: np.random.Generator) -> dict:
    """Per-appearance variation: legs, arms, facing side, colour jitter."""
    return dict(
        spread=float(rng.uniform(0, 1)),
        arms=tuple(float(a) for a in rng.uniform(0.04, 0.6, size=2)),
        facing=int(rng.choice([-1, 1])),
        jitter=rng.normal(0, 5, size=3),
    )


def _colors(app: dict, pose: dict) -> Dict[str, tuple]:
    """RGB colours of one appearance, jittered consistently."""

    def jit(rgb):
        return tuple(float(c) for c in np.clip(np.add(rgb, pose['jitter']),
                                               0, 255))

    cols = dict(
        torso=PALETTE[app['torso']],
        legs=PALETTE[app['legs']],
        pattern=PALETTE[app['pattern_color']],
        skin=SKIN[app['skin']],
        hair=HAIR[app['hair']],
        shoes=SHOES[app['shoes']])
    if app['hat'] is not None:
        cols['hat'] = PALETTE[app['hat']]
    if app['bag'] is not None:
        cols['bag'] = PALETTE[app['bag'][1]]
    return {k: jit(v) for k, v in cols.items()}


# -------------------------------------------------------------------- drawing
def _pt(x: float, y: float) -> tuple:
    return int(round(x)), int(round(y))


class _Canvas:
    """An RGB drawing surface plus the silhouette mask of what was drawn."""

    def __init__(self, height: int, width: int):
        self.img = np.zeros((height, width, 3), np.uint8)
        self.mask = np.zeros((height, width), np.uint8)

    def draw(self, fn: Callable, *args, color: tuple, **kwargs):
        """Call a cv2 drawing function on the image and on the mask."""
        fn(self.img, *args, color=color, **kwargs)
        fn(self.mask, *args, color=255, **kwargs)

    def poly(self, pts: Sequence, color: tuple):
        pts = np.array([_pt(*p) for p in pts], np.int32)
        self.draw(cv2.fillPoly, [pts], color=color)

    def rect(self, p1: tuple, p2: tuple, color: tuple):
        self.draw(cv2.rectangle, _pt(*p1), _pt(*p2), color=color,
                  thickness=-1)

    def line(self, p1: tuple, p2: tuple, color: tuple, width: float):
        self.draw(cv2.line, _pt(*p1), _pt(*p2), color=color,
                  thickness=max(1, int(round(width))))

    def ellipse(self, center: tuple, axes: tuple, color: tuple,
                start: int = 0, end: int = 360):
        axes = (max(1, int(round(axes[0]))), max(1, int(round(axes[1]))))
        self.draw(cv2.ellipse, _pt(*center), axes, 0, start, end,
                  color=color, thickness=-1)

    def pattern_poly(self, pts: Sequence, base: tuple, second: tuple,
                     pattern: str, bands: tuple):
        """Fill a polygon with a solid / striped / checked pattern."""
        region = np.zeros_like(self.mask)
        cv2.fillPoly(region, [np.array([_pt(*p) for p in pts], np.int32)],
                     255)
        ys, xs = np.nonzero(region)
        rows = (ys - ys.min()) // max(1, int(bands[0])) % 2 == 1
        cols = (xs - xs.min()) // max(1, int(bands[1])) % 2 == 1
        alt = {'solid': np.zeros_like(rows), 'hstripes': rows,
               'vstripes': cols, 'checks': rows ^ cols}[pattern]
        self.img[ys, xs] = np.where(alt[:, None], second, base)
        self.mask[ys, xs] = 255

    def crop(self):
        """The tight crop around the silhouette: (RGB image, bool mask)."""
        ys, xs = np.nonzero(self.mask)
        sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        return self.img[sl], self.mask[sl] > 0


def _geometry(app: dict, body: float, cx: float, top: float) -> dict:
    """Key coordinates of a standing person whose head starts at ``top``."""
    head_h = app['head'] * body
    sw = body / app['aspect']
    return dict(
        cx=cx, top=top, body=body, head_h=head_h, head_w=0.78 * head_h,
        neck=top + 0.92 * head_h, hip=top + body * (1 - app['leg_frac']),
        bottom=top + body - 1, sw=sw, ww=0.86 * sw,
        arm_w=max(2.0, 0.24 * sw), arm_len=0.36 * body)


def _draw_legs(cv: _Canvas, col: dict, pose: dict, g: dict):
    leg_w = max(2.0, 0.42 * g['ww'])
    shoe_h = max(1.0, 0.035 * g['body'])
    spread = pose['spread'] * 0.11 * g['body']
    for side in (-1, 1):
        foot = g['cx'] + side * (0.25 * g['ww'] + spread)
        cv.poly([(g['cx'] + side * g['ww'] / 2, g['hip']),
                 (g['cx'], g['hip']),
                 (foot - side * leg_w / 2, g['bottom']),
                 (foot + side * leg_w / 2, g['bottom'])], col['legs'])
        toe = foot + pose['facing'] * 0.3 * leg_w
        cv.rect((toe - 0.6 * leg_w, g['bottom'] - shoe_h),
                (toe + 0.6 * leg_w, g['bottom']), col['shoes'])


def _draw_torso(cv: _Canvas, col: dict, app: dict, g: dict):
    waist = g['hip'] + 0.03 * g['body']
    pts = [(g['cx'] - g['sw'] / 2, g['neck']),
           (g['cx'] + g['sw'] / 2, g['neck']),
           (g['cx'] + g['ww'] / 2, waist), (g['cx'] - g['ww'] / 2, waist)]
    bands = ((waist - g['neck']) / 6, g['sw'] / 5)
    cv.pattern_poly(pts, col['torso'], col['pattern'], app['pattern'], bands)


def _draw_arms(cv: _Canvas, col: dict, app: dict, pose: dict,
               g: dict) -> list:
    """Sleeves, forearms and hands; returns the hand positions."""
    sleeve = 1.0 if app['long_sleeves'] else 0.45
    hands = []
    for side, angle in zip((-1, 1), pose['arms']):
        sx = g['cx'] + side * (g['sw'] - g['arm_w']) / 2
        sy = g['neck'] + g['arm_w'] / 2
        ex = sx + side * math.sin(angle) * g['arm_len']
        ey = sy + math.cos(angle) * g['arm_len']
        mid = (sx + sleeve * (ex - sx), sy + sleeve * (ey - sy))
        cv.line((sx, sy), mid, col['torso'], g['arm_w'])
        if sleeve < 1:
            cv.line(mid, (ex, ey), col['skin'], 0.8 * g['arm_w'])
        cv.ellipse((ex, ey), (0.55 * g['arm_w'], 0.6 * g['arm_w']),
                   col['skin'])
        hands.append((ex, ey))
    return hands


def _draw_head(cv: _Canvas, col: dict, app: dict, pose: dict, g: dict):
    cx, top, hh, hw = g['cx'], g['top'], g['head_h'], g['head_w']
    cv.ellipse((cx, top + hh / 2), (hw / 2, hh / 2), col['skin'])
    cv.ellipse((cx, top + 0.42 * hh), (hw / 2, 0.42 * hh), col['hair'],
               180, 360)
    if app['hat'] is None:
        return
    hat_h = 0.07 * g['body']
    base = top + 0.3 * hh
    cv.ellipse((cx, base), (0.6 * hw, 0.3 * hh + hat_h), col['hat'], 180,
               360)
    brim = cx + pose['facing'] * 0.85 * hw
    cv.rect((min(cx, brim), base - max(1.0, 0.06 * hh)), (max(cx, brim),
                                                          base), col['hat'])


def _draw_backpack(cv: _Canvas, col: dict, pose: dict, g: dict):
    """The pack behind the body (drawn first), sticking out on one side."""
    side = -pose['facing']
    x1 = g['cx'] + side * 0.1 * g['sw']
    x2 = g['cx'] + side * 0.85 * g['sw']
    y1 = g['neck'] + 0.04 * g['body']
    y2 = g['neck'] + 0.75 * (g['hip'] - g['neck'])
    cv.rect((min(x1, x2), y1), (max(x1, x2), y2), col['bag'])


def _draw_backpack_strap(cv: _Canvas, col: dict, pose: dict, g: dict):
    side = -pose['facing']
    cv.line((g['cx'] + side * 0.3 * g['sw'], g['neck']),
            (g['cx'] + side * 0.22 * g['sw'],
             g['neck'] + 0.6 * (g['hip'] - g['neck'])), col['bag'],
            max(1.0, 0.08 * g['sw']))


def _draw_handbag(cv: _Canvas, col: dict, pose: dict, hands: list,
                  g: dict):
    hx, hy = hands[0] if pose['facing'] < 0 else hands[1]
    bw, bh = 0.55 * g['sw'], 0.4 * g['sw']
    cv.rect((hx - bw / 2, hy), (hx + bw / 2, hy + bh), col['bag'])


def render_person(app: dict, pose: dict, height: float):
    """Draw a person about ``height`` px tall (hat included).

    Returns the tight RGB crop (uint8) and its bool silhouette mask.
    """
    hat = 0.07 if app['hat'] is not None else 0.0
    body = height / (1 + hat)
    cv = _Canvas(int(math.ceil(height)) + 4, int(2 * body) + 4)
    g = _geometry(app, body, cx=cv.img.shape[1] / 2, top=hat * body + 1)
    col = _colors(app, pose)
    bag = app['bag'][0] if app['bag'] is not None else None
    if bag == 'backpack':
        _draw_backpack(cv, col, pose, g)
    _draw_legs(cv, col, pose, g)
    _draw_torso(cv, col, app, g)
    if bag == 'backpack':
        _draw_backpack_strap(cv, col, pose, g)
    hands = _draw_arms(cv, col, app, pose, g)
    if bag == 'handbag':
        _draw_handbag(cv, col, pose, hands, g)
    _draw_head(cv, col, app, pose, g)
    return cv.crop()


# --------------------------------------------------------------------- scenes
def _muted(rng: np.random.Generator) -> np.ndarray:
    """A low-saturation colour."""
    return rng.uniform(70, 180) + rng.uniform(-18, 18, size=3)


def _draw_buildings(rng: np.random.Generator, img: np.ndarray, horizon: int):
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(2, 6))):
        bw, bh = rng.uniform(0.15, 0.5) * w, rng.uniform(0.1, 0.45) * h
        x = rng.uniform(-0.1 * w, w)
        cv2.rectangle(img, _pt(x, horizon - bh), _pt(x + bw, horizon),
                      tuple(_muted(rng)), -1)
        win, step = max(2, int(0.06 * bh)), max(4, int(0.16 * bh))
        color = tuple(_muted(rng))
        for wy in range(int(horizon - bh) + step // 2, horizon - win, step):
            for wx in range(int(x) + step // 2, int(x + bw) - win, step):
                cv2.rectangle(img, (wx, wy), (wx + win, wy + win), color, -1)


def _draw_lines(rng: np.random.Generator, img: np.ndarray):
    h, w = img.shape[:2]
    for _ in range(int(rng.integers(1, 5))):
        p1 = _pt(rng.uniform(0, w), rng.uniform(0, h))
        p2 = _pt(rng.uniform(0, w), rng.uniform(0, h))
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
    p1, p2 = _pt(*p1), _pt(*p2)
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


# ------------------------------------------------------------------- planning
def _people_counts(rng: np.random.Generator, n_scenes: int, n_ids: int,
                   need: int, sizes: dict) -> list:
    """[labelled, unlabelled] per scene, with >= ``need`` labelled slots."""
    lo, hi = sizes['min_people'], sizes['max_people']
    counts = []
    for _ in range(n_scenes):
        total = int(rng.integers(lo, hi + 1))
        unl = int(rng.integers(0, min(sizes['max_unlabeled'], total - 1) + 1))
        counts.append([min(total - unl, n_ids), unl])
    while sum(c[0] for c in counts) < need:
        free = [c for c in counts if c[0] < min(hi, n_ids)]
        if not free:
            raise ValueError(
                f'too few scenes: a group of {n_ids} identities got '
                f'{n_scenes} scenes of at most {hi} people, too few to show '
                f'each identity {need // n_ids} times')
        c = free[int(rng.integers(len(free)))]
        c[0] += 1
        c[1] = min(c[1], hi - c[0])
    return counts


def _deal(rng: np.random.Generator, counts: list, ids: Sequence[int],
          scenes: list):
    """Give each scene its labelled identities, least-used first."""
    used = np.zeros(len(ids))
    for (n_lab, n_unl), scene in zip(counts, scenes):
        pick = np.argsort(used + rng.random(len(ids)), kind='stable')[:n_lab]
        used[pick] += 1
        scene.update(ids=[int(ids[i]) for i in sorted(pick)],
                     n_unlabeled=n_unl)


def plan_split(rng: np.random.Generator, n_scenes: int, ids: Sequence[int],
               min_appear: int, sizes: dict, places: int = 0) -> List[dict]:
    """Scenes of one split: identity indices, unlabelled count, seed.

    Identities form groups of about ``id_group_size`` and a scene shows
    people of one group only, so the scenes sharing identities make several
    connected components (as in CUHK-SYSU, needed by the train/val split).
    Within a group identities are dealt least-used first, so each one
    appears in ``min_appear`` or more scenes (at most once per scene). With
    ``places = N >= 1`` each scene also gets ``place``, the seed of one of
    its group's ``N`` places (scene context).
    """
    n_groups = min(-(-len(ids) // sizes['id_group_size']), n_scenes)
    groups = np.array_split(rng.permutation(np.asarray(ids)), n_groups)
    owner = rng.permutation(np.arange(n_scenes) % n_groups)
    scenes = [dict(seed=int(rng.integers(2**63))) for _ in range(n_scenes)]
    for g, group in enumerate(groups):
        mine = [s for s, o in zip(scenes, owner) if o == g]
        counts = _people_counts(rng, len(mine), len(group),
                                min_appear * len(group), sizes)
        _deal(rng, counts, sorted(int(i) for i in group), mine)
    if places:  # drawn last: the people do not depend on the places
        seeds = rng.integers(2**63, size=(n_groups, places))
        for scene, g in zip(scenes, owner):
            scene['place'] = int(seeds[g, rng.integers(places)])
    return scenes


def appearances(records: List[dict]) -> Dict[int, list]:
    """Identity -> [(record index, person)] in record order."""
    found = {}
    for r, rec in enumerate(records):
        for person in rec['people']:
            if person['id'] >= 0:
                found.setdefault(person['id'], []).append((r, person))
    return found


def split_stats(records: List[dict]) -> dict:
    people = [p for rec in records for p in rec['people']]
    known = [p for p in people if p['id'] >= 0]
    return dict(
        images=len(records), boxes=len(people), known_boxes=len(known),
        unlabeled_boxes=len(people) - len(known),
        occluded_boxes=sum(p['visible'] < OCCLUDED_BELOW for p in people),
        identities=len({p['id'] for p in known}))


def dataset_stats(train: List[dict], test: List[dict],
                  num_queries: int) -> dict:
    """Totals plus per-split numbers (prefixed ``train_`` / ``test_``)."""
    stats = split_stats(train + test)
    for name, recs in (('train', train), ('test', test)):
        stats.update({f'{name}_{k}': v
                      for k, v in split_stats(recs).items()})
    stats['queries'] = num_queries
    return stats


# --------------------------------------------------------------------- output
def _write_jpeg(path: str, img: np.ndarray):
    os.makedirs(osp.dirname(path), exist_ok=True)
    ok = cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise IOError(f'cannot write {path}')


def _savemat(path: str, key: str, value):
    os.makedirs(osp.dirname(path), exist_ok=True)
    savemat(path, {key: value}, do_compression=True)


def _structs(rows: Sequence[Sequence], fields: Sequence[str]) -> np.ndarray:
    """A 1 x N MATLAB struct array (numpy record array of objects)."""
    arr = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for field, value in zip(fields, row):
            arr[field][0, i] = value
    return arr


def _cell(items: Sequence) -> np.ndarray:
    """An N x 1 MATLAB cell array."""
    arr = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        arr[i, 0] = item
    return arr


def _double(value) -> np.ndarray:
    return np.array(value, dtype=np.float64).reshape(1, -1)


def _hard(person: dict) -> np.ndarray:
    return _double(float(person['visible'] < OCCLUDED_BELOW))


def _render_all(records: List[dict], render: Callable, write: Callable,
                progress: Optional[Progress], name: str):
    """Render and write every record (in place: adds its people)."""
    items = progress(records, len(records), name) if progress else records
    for rec in items:
        img, rec['people'] = render(rec)
        write(rec, img)


# ------------------------------------------------------------------ CUHK-SYSU
def _cuhk_images_mat(root: str, records: List[dict]):
    rows = [(rec['name'], _double(len(rec['people'])),
             _structs([(_double(p['box']), _hard(p)) for p in rec['people']],
                      ('idlocate', 'ishard'))) for rec in records]
    _savemat(osp.join(root, 'annotation', 'Images.mat'), 'Img',
             _structs(rows, ('imname', 'nAppear', 'box')))


def _cuhk_train_mat(root: str, train: List[dict], n_ids: int):
    found = appearances(train)
    cells = []
    for k in range(n_ids):
        scene = _structs([(train[r]['name'], _double(p['box']), _hard(p))
                          for r, p in found[k]],
                         ('imname', 'idlocate', 'ishard'))
        cells.append(_structs([(f'p{k + 1}', _double(len(found[k])), scene)],
                              ('idname', 'nAppear', 'scene')))
    _savemat(osp.join(root, 'annotation', 'test', 'train_test', 'Train.mat'),
             'Train', _cell(cells))


def cuhk_queries(rng: np.random.Generator, test: List[dict],
                 ids: Sequence[int]) -> List[dict]:
    """One query per test identity with its full ordered gallery.

    The gallery lists the other images holding the person (with the
    person's annotation), then every remaining test image in random order
    (person ``None``).
    """
    found = appearances(test)
    queries = []
    for k in ids:
        apps = found[k]
        q = int(rng.integers(len(apps)))
        holding = {r for r, _ in apps}
        others = [r for r in rng.permutation(len(test)) if r not in holding]
        gallery = [(r, p) for i, (r, p) in enumerate(apps) if i != q]
        gallery += [(int(r), None) for r in others]
        queries.append(dict(id=k, rec=apps[q][0], person=apps[q][1],
                            gallery=gallery))
    return queries


def _gallery_fields(person: Optional[dict]) -> tuple:
    """(idlocate, ishard) of a gallery entry; 0 x 0 for a distractor."""
    if person is None:
        return np.zeros((0, 0)), np.zeros((0, 0))
    return _double(person['box']), _hard(person)


def _query_rows(test: List[dict], queries: List[dict], size: int,
                first_id: int) -> list:
    """(Query, Gallery) struct pairs with galleries of ``size`` images."""
    rows = []
    for n, q in enumerate(queries):
        query = _structs([(test[q['rec']]['name'], _double(q['person']['box']),
                           _hard(q['person']), f'p{first_id + n}')],
                         ('imname', 'idlocate', 'ishard', 'idname'))
        gallery = _structs([(test[r]['name'], *_gallery_fields(p))
                            for r, p in q['gallery'][:size]],
                           ('imname', 'idlocate', 'ishard'))
        rows.append((query, gallery))
    return rows


def cuhk_subsets(queries: List[dict]) -> tuple:
    """Indices of the occlusion and low-resolution query subsets.

    Occlusion: queries whose box is partly hidden (the most hidden ones if
    fewer than two). Resolution: the smallest quarter of the query boxes.
    Both hold at least ``min(2, len(queries))`` queries.
    """
    low = min(2, len(queries))
    visible = [q['person']['visible'] for q in queries]
    order = np.argsort(visible, kind='stable')
    occl = [int(i) for i in order if visible[i] < OCCLUDED_BELOW]
    occl = occl if len(occl) >= low else [int(i) for i in order[:low]]
    areas = [q['person']['box'][2] * q['person']['box'][3] for q in queries]
    small = np.argsort(areas, kind='stable')[:max(low, -(-len(queries) // 4))]
    return sorted(occl), sorted(int(i) for i in small)


def _cuhk_test_mats(root: str, test: List[dict], queries: List[dict],
                    first_id: int):
    base = osp.join(root, 'annotation', 'test')
    for size in CUHK_GALLERY_SIZES:
        rows = _query_rows(test, queries, size, first_id)
        _savemat(osp.join(base, 'train_test', f'TestG{size}.mat'),
                 f'TestG{size}', _structs(rows, ('Query', 'Gallery')))
    rows = _query_rows(test, queries, SUBSET_GALLERY_SIZE, first_id)
    occl, small = cuhk_subsets(queries)
    _savemat(osp.join(base, 'subset', 'Occlusion.mat'), 'Occlusion1',
             _structs([rows[i] + (_double(1.0), ) for i in occl],
                      ('Query', 'Gallery', 'occlusion')))
    _savemat(osp.join(base, 'subset', 'Resolution.mat'), 'Test_Size',
             _structs([rows[i] for i in small], ('Query', 'Gallery')))


def make_cuhk_sysu(root: str, rng: np.random.Generator, sizes: dict,
                   progress: Optional[Progress] = None) -> dict:
    """Write the CUHK-SYSU layout under ``root``; returns statistics."""
    n_train, n_test = sizes['cuhk_train_ids'], sizes['cuhk_test_ids']
    identities = sample_identities(rng, n_train + n_test)
    need = MIN_APPEARANCES['CUHK-SYSU']
    places = sizes['group_places']
    train = plan_split(rng, sizes['cuhk_train_scenes'], range(n_train), need,
                       sizes, places)
    test = plan_split(rng, sizes['cuhk_test_scenes'],
                      range(n_train, n_train + n_test), need, sizes, places)
    numbers = rng.permutation(len(train) + len(test)) + 1
    for rec, number in zip(train + test, numbers):
        rec['name'], rec['number'] = f's{number}.jpg', int(number)
    train.sort(key=lambda r: r['number'])
    test.sort(key=lambda r: r['number'])

    def render(rec):
        r = np.random.default_rng(rec['seed'])
        size = sizes['img_width'], sizes['img_height']
        bg = (place_background(rec['place'], *size, r) if 'place' in rec
              else make_background(r, *size))
        return render_planned(r, rec, identities, bg, sample_lighting(r))

    def write(rec, img):
        _write_jpeg(osp.join(root, 'Image', 'SSM', rec['name']), img)

    _render_all(sorted(train + test, key=lambda r: r['number']), render,
                write, progress, 'CUHK-SYSU')
    _cuhk_images_mat(root, sorted(train + test, key=lambda r: r['number']))
    _savemat(osp.join(root, 'annotation', 'pool.mat'), 'pool',
             _cell([rec['name'] for rec in test]))
    _cuhk_train_mat(root, train, n_train)
    queries = cuhk_queries(rng, test, range(n_train, n_train + n_test))
    _cuhk_test_mats(root, test, queries, first_id=n_train + 1)
    return dataset_stats(train, test, len(queries))


# ------------------------------------------------------------------------ PRW
def prw_frame_names(rng: np.random.Generator, cams: Sequence[int]) -> list:
    """Frame names; per camera, sequence / frame numbers grow with order."""
    state, names = {}, []
    for cam in cams:
        seq, frame, count = state.get(cam, (1, 0, 0))
        if count and count % PRW_FRAMES_PER_SEQ == 0:
            seq, frame = seq + 1, 0
        frame += int(rng.integers(30, 1500))
        state[cam] = (seq, frame, count + 1)
        names.append(f'c{cam}s{seq}_{frame:06d}')
    return names


def prw_queries(rng: np.random.Generator, test: List[dict],
                pids: Sequence[int]) -> list:
    """One query per test identity and camera: (pid, box, frame) sorted."""
    lines = []
    for k, apps in sorted(appearances(test).items()):
        by_cam = {}
        for r, p in apps:
            by_cam.setdefault(test[r]['cam'], []).append((r, p))
        for cam in sorted(by_cam):
            r, p = by_cam[cam][int(rng.integers(len(by_cam[cam])))]
            lines.append((int(pids[k]), p['box'], test[r]['name']))
    return sorted(lines, key=lambda line: (line[0], line[2]))


def _prw_annotations(root: str, records: List[dict], pids: Sequence[int]):
    for i, rec in enumerate(sorted(records, key=lambda r: r['name'])):
        rows = [[pids[p['id']] if p['id'] >= 0 else -2, *p['box']]
                for p in rec['people']]
        _savemat(osp.join(root, 'annotations', rec['name'] + '.jpg.mat'),
                 PRW_KEYS[i % len(PRW_KEYS)],
                 np.array(rows, dtype=np.float64).reshape(-1, 5))


def _prw_lists(root: str, train: List[dict], test: List[dict],
               queries: list):
    for key, recs in (('train', train), ('test', test)):
        _savemat(osp.join(root, f'frame_{key}.mat'), f'img_index_{key}',
                 _cell(sorted(rec['name'] for rec in recs)))
    with open(osp.join(root, 'query_info.txt'), 'w', newline='') as f:
        for pid, (x, y, w, h), frame in queries:
            f.write(f'{pid} {x} {y} {w} {h} {frame}\r\n')


def _prw_cameras(rng: np.random.Generator, sizes: dict) -> dict:
    """Per camera: a fixed background and lighting."""
    return {
        cam: (make_background(rng, sizes['img_width'], sizes['img_height']),
              sample_lighting(rng))
        for cam in range(1, sizes['prw_cameras'] + 1)
    }


def make_prw(root: str, rng: np.random.Generator, sizes: dict,
             progress: Optional[Progress] = None) -> dict:
    """Write the PRW layout under ``root``; returns statistics."""
    n_train, n_test = sizes['prw_train_ids'], sizes['prw_test_ids']
    identities = sample_identities(rng, n_train + n_test)
    pids = rng.permutation(n_train + n_test) + 1
    need = MIN_APPEARANCES['PRW']
    train = plan_split(rng, sizes['prw_train_frames'], range(n_train), need,
                       sizes)
    test = plan_split(rng, sizes['prw_test_frames'],
                      range(n_train, n_train + n_test), need, sizes)
    timeline = [(train + test)[i] for i in rng.permutation(len(train + test))]
    cams = [i % sizes['prw_cameras'] + 1 for i in range(len(timeline))]
    for rec, cam, name in zip(timeline, cams, prw_frame_names(rng, cams)):
        rec['cam'], rec['name'] = cam, name
    cameras = _prw_cameras(rng, sizes)

    def render(rec):
        r = np.random.default_rng(rec['seed'])
        bg, (gain, offset) = cameras[rec['cam']]
        lighting = (gain * r.uniform(0.95, 1.05), offset)
        return render_planned(r, rec, identities, bg, lighting)

    def write(rec, img):
        _write_jpeg(osp.join(root, 'frames', rec['name'] + '.jpg'), img)

    _render_all(sorted(timeline, key=lambda r: r['name']), render, write,
                progress, 'PRW')
    _prw_annotations(root, train + test, pids)
    queries = prw_queries(rng, test, pids)
    _prw_lists(root, train, test, queries)
    stats = dataset_stats(train, test, len(queries))
    stats['cameras'] = sizes['prw_cameras']
    return stats


# ----------------------------------------------------------------------- main
def check_sizes(sizes: dict):
    """Reject size options that cannot make a valid dataset."""
    bad = [k for k, v in sizes.items()
           if int(v) != v or v < (0 if k in OPTIONAL_SIZES else 1)]
    if bad:
        raise ValueError(f'size options must be positive integers: {bad}')
    if sizes['min_people'] > sizes['max_people']:
        raise ValueError('min_people must not exceed max_people')
    if sizes['img_height'] < 48 or sizes['img_width'] < sizes['img_height']:
        raise ValueError('images must be landscape, at least 48 px high')
    if min(sizes['cuhk_test_scenes'], sizes['prw_test_frames']) < 2:
        raise ValueError('the test splits need at least 2 images')
    if sizes['prw_cameras'] > 9:
        raise ValueError('PRW camera ids are one digit: prw_cameras <= 9')


def make_synthetic_dataset(out_dir: str,
                           seed: int = 0,
                           datasets: Sequence[str] = DATASETS,
                           progress: Optional[Progress] = None,
                           **sizes) -> Dict[str, dict]:
    """Write synthetic CUHK-SYSU and/or PRW raw releases under ``out_dir``.

    Args:
        out_dir: Output folder; gets ``CUHK-SYSU/`` and ``PRW/``.
        seed: Seed of all randomness (same seed, same files).
        datasets: Which of ``('CUHK-SYSU', 'PRW')`` to write. Each dataset's
            content does not depend on whether the other one is written.
        progress: Optional ``progress(iterable, total, name) -> iterable``
            wrapper around the image-writing loop of each dataset (``name``
            is the dataset's), e.g. to show a progress bar.
        **sizes: Overrides of :data:`DEFAULT_SIZES`.

    Returns:
        ``{dataset name: statistics}``; the statistics hold totals (images,
        boxes, known_boxes, unlabeled_boxes, occluded_boxes, identities),
        the same per split with ``train_`` / ``test_`` prefixes, and queries.
    """
    unknown = set(sizes) - set(DEFAULT_SIZES) | set(datasets) - set(DATASETS)
    if unknown:
        raise ValueError(f'unknown options or datasets: {sorted(unknown)}')
    sizes = {**DEFAULT_SIZES, **sizes}
    check_sizes(sizes)
    rng = np.random.default_rng(seed)
    rngs = dict(zip(DATASETS, (child_rng(rng), child_rng(rng))))
    makers = {'CUHK-SYSU': make_cuhk_sysu, 'PRW': make_prw}
    return {
        name: makers[name](osp.join(out_dir, name), rngs[name], sizes,
                           progress)
        for name in DATASETS if name in datasets
    }
