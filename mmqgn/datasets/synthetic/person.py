"""Drawing one person with cv2 primitives (legs, torso, arms, head, bags)."""
import math
from typing import Callable, Dict, Sequence

import cv2
import numpy as np

from .appearance import HAIR, PALETTE, SHOES, SKIN


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


def int_point(x: float, y: float) -> tuple:
    """A cv2 pixel point: both coordinates rounded to int."""
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
        pts = np.array([int_point(*p) for p in pts], np.int32)
        self.draw(cv2.fillPoly, [pts], color=color)

    def rect(self, p1: tuple, p2: tuple, color: tuple):
        self.draw(cv2.rectangle, int_point(*p1), int_point(*p2),
                  color=color, thickness=-1)

    def line(self, p1: tuple, p2: tuple, color: tuple, width: float):
        self.draw(cv2.line, int_point(*p1), int_point(*p2), color=color,
                  thickness=max(1, int(round(width))))

    def ellipse(self, center: tuple, axes: tuple, color: tuple,
                start: int = 0, end: int = 360):
        axes = (max(1, int(round(axes[0]))), max(1, int(round(axes[1]))))
        self.draw(cv2.ellipse, int_point(*center), axes, 0, start, end,
                  color=color, thickness=-1)

    def pattern_poly(self, pts: Sequence, base: tuple, second: tuple,
                     pattern: str, bands: tuple):
        """Fill a polygon with a solid / striped / checked pattern."""
        region = np.zeros_like(self.mask)
        cv2.fillPoly(region,
                     [np.array([int_point(*p) for p in pts], np.int32)], 255)
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
