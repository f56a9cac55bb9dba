"""Person search demo: find a query person in a folder of images or a video.

    python demo/person_search_demo.py QUERY_IMG X1 Y1 X2 Y2 GALLERY \\
        CONFIG CHECKPOINT [--topk 5] [--device cpu] [--out-file search.png] \\
        [--score-thr 0.5] [--batch-size 1] [--gfn-thr THR | --no-gfn-filter]
        [--strict]

The query person is the box (X1, Y1, X2, Y2), in pixels, of QUERY_IMG.
GALLERY is a folder of images or a video file (read frame by frame). Every
person detected in the gallery (detection score >= --score-thr) is ranked
by similarity to the query (embedding models such as OIM / SeqNeXt: cosine
similarity of the embeddings; query-guided models such as QGN: each gallery
image is run paired with the query and ranked by the pair score); the best
--topk are printed and drawn into --out-file: the query crop beside the
gallery images of the matches, with their box, detection score and
similarity. With a Gallery Filter Network the similarity is weighted by the
image's GFN score (printed as well), and images scoring below the filter
threshold (--gfn-thr, default the config's ``model.test_cfg.gfn.filter_thr``;
--no-gfn-filter: none) are skipped before detection (two-phase search).
Bad input (a box outside the query image, an empty gallery, an unreadable
query image or video) gives a message and exit status 1. An unreadable
gallery image is skipped with a warning that names it, and the number of
skipped images is printed at the end; with --strict every image of a
gallery folder is decoded first (fully: a truncated file counts as
unreadable) and any unreadable one stops the run before the model is built.
"""
import argparse
import os
import os.path as osp
import sys
from typing import Callable, List, NamedTuple, Optional, Sequence

import cv2
import mmcv
import numpy as np
from PIL import Image

from mmqgn.apis import (FROM_CONFIG, SearchInputError, SearchMatch,
                        init_searcher, search)

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff',
                    '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.mpg',
                    '.mpeg', '.m4v', '.wmv')
PANEL_HEIGHT = 320
HEADER_HEIGHT = 44
GAP = 8
BOX_COLOR = (0, 200, 0)  # BGR
QUERY_COLOR = (0, 0, 220)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Search a query person in a folder of images or a video')
    parser.add_argument('query_img', help='image holding the query person')
    for name in ('x1', 'y1', 'x2', 'y2'):
        parser.add_argument(name, type=float, help='query box, pixels')
    parser.add_argument('gallery', help='folder of images or a video file')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='model checkpoint file')
    parser.add_argument('--topk', type=int, default=5,
                        help='number of matches to print and draw')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--out-file', default='search.png',
                        help='where to write the visualization (PNG)')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='ignore detections scoring below it')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='gallery images per forward')
    gfn = parser.add_mutually_exclusive_group()
    gfn.add_argument('--gfn-thr', type=float,
                     help='GFN models: skip gallery images whose GFN score '
                     'is below it (default: model.test_cfg.gfn.filter_thr)')
    gfn.add_argument('--no-gfn-filter', action='store_true',
                     help='GFN models: weight only, skip no image')
    parser.add_argument('--strict', action='store_true',
                        help='check that every gallery image can be read '
                        'before searching; stop if one cannot (default: '
                        'skip unreadable images with a warning)')
    return parser.parse_args(argv)


def gfn_threshold(args: argparse.Namespace):
    """The ``gfn_thr`` argument of :func:`search`."""
    if args.no_gfn_filter:
        return None
    return FROM_CONFIG if args.gfn_thr is None else args.gfn_thr


class Gallery(NamedTuple):
    """Gallery images (paths, or a lazy ``mmcv.VideoReader``) and a name
    for each index."""
    images: Sequence
    name: Callable[[int], str]

    def load(self, idx: int) -> np.ndarray:
        """The BGR image ``idx`` (read again, for drawing)."""
        img = self.images[idx]
        return img if isinstance(img, np.ndarray) else mmcv.imread(img)


def open_gallery(path: str) -> Gallery:
    """A folder of images (sorted by name) or a video file."""
    if osp.isdir(path):
        return _image_folder(path)
    if not osp.isfile(path):
        raise SearchInputError(f'gallery {path} does not exist')
    if path.lower().endswith(VIDEO_EXTENSIONS):
        return _video(path)
    raise SearchInputError(
        f'gallery {path} is neither a folder of images nor a video file '
        f'({", ".join(VIDEO_EXTENSIONS)})')


def _image_folder(path: str) -> Gallery:
    files = sorted(f for f in os.listdir(path)
                   if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise SearchInputError(
            f'the gallery folder {path} holds no image '
            f'({", ".join(IMAGE_EXTENSIONS)})')
    return Gallery([osp.join(path, f) for f in files], lambda i: files[i])


def _video(path: str) -> Gallery:
    video = mmcv.VideoReader(path)
    if not video.opened or len(video) == 0:
        raise SearchInputError(f'cannot read any frame of the video {path}')
    return Gallery(video, lambda i: f'frame {i}')


def check_readable(gallery: Gallery) -> None:
    """Decode every image of a gallery folder completely (PIL, so that a
    truncated file is caught); raise :class:`SearchInputError` naming the
    unreadable ones. A video is read lazily and not checked."""
    if isinstance(gallery.images, mmcv.VideoReader):
        return
    bad = []
    for idx, path in enumerate(gallery.images):
        try:
            with Image.open(path) as img:
                img.load()
        except (OSError, SyntaxError, ValueError) as e:
            bad.append(f'{gallery.name(idx)} ({e})')
    if bad:
        raise SearchInputError(
            f'{len(bad)} unreadable gallery image(s), nothing searched '
            '(--strict): ' + '; '.join(bad))


def print_matches(matches: List[SearchMatch], gallery: Gallery) -> None:
    """One line per match: rank, image, box, detection score, similarity
    (and the image's GFN score for a model with a GFN)."""
    with_gfn = any(m.gfn_score is not None for m in matches)
    print(f'{"rank":>4}  {"gallery image":<24} {"box (x1, y1, x2, y2)":<30}'
          f' {"det":>6} {"sim":>7}' + (f' {"gfn":>6}' if with_gfn else ''))
    for rank, m in enumerate(matches, 1):
        box = ', '.join(f'{v:.1f}' for v in m.bbox)
        gfn = f' {m.gfn_score:>6.3f}' if with_gfn else ''
        print(f'{rank:>4}  {gallery.name(m.gallery_idx):<24} '
              f'{"(" + box + ")":<30} {m.score:>6.3f} {m.similarity:>7.3f}'
              + gfn)


def render(query_img: np.ndarray, query_bbox: Sequence[float],
           matches: List[SearchMatch], gallery: Gallery) -> np.ndarray:
    """The query crop, then each match's gallery image, side by side."""
    x1, y1, x2, y2 = (int(round(v)) for v in query_bbox)
    crop = query_img[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    panels = [draw_panel(crop, None, ['query'], QUERY_COLOR)]
    for rank, m in enumerate(matches, 1):
        gfn = '' if m.gfn_score is None else f'  gfn {m.gfn_score:.2f}'
        lines = [f'#{rank} {gallery.name(m.gallery_idx)}',
                 f'det {m.score:.2f}  sim {m.similarity:.3f}{gfn}']
        panels.append(
            draw_panel(gallery.load(m.gallery_idx), m.bbox, lines, BOX_COLOR))
    return hstack(panels)


def draw_panel(img: np.ndarray, bbox: Optional[np.ndarray],
               lines: List[str], color: tuple) -> np.ndarray:
    """``img`` resized to PANEL_HEIGHT with ``bbox`` drawn and a header of
    text ``lines`` above it."""
    scale = PANEL_HEIGHT / img.shape[0]
    width = max(1, int(round(img.shape[1] * scale)))
    img = mmcv.imresize(img, (width, PANEL_HEIGHT))
    if bbox is not None:
        p1, p2 = (tuple(int(round(v * scale)) for v in bbox[i:i + 2])
                  for i in (0, 2))
        cv2.rectangle(img, p1, p2, color, thickness=2)
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    text_w = max(cv2.getTextSize(t, font, size, 1)[0][0] for t in lines)
    panel = np.full((HEADER_HEIGHT + PANEL_HEIGHT, max(width, text_w + 8), 3),
                    255, np.uint8)
    panel[HEADER_HEIGHT:, :width] = img
    for i, text in enumerate(lines):
        cv2.putText(panel, text, (4, 16 + 18 * i), font, size, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return panel


def hstack(panels: List[np.ndarray]) -> np.ndarray:
    """Panels of equal height side by side, separated by white gaps."""
    gap = np.full((panels[0].shape[0], GAP, 3), 255, np.uint8)
    parts = [p for panel in panels for p in (panel, gap)][:-1]
    return np.concatenate(parts, axis=1)


def run(args: argparse.Namespace) -> None:
    gallery = open_gallery(args.gallery)
    if args.strict:
        check_readable(gallery)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise SearchInputError(f'{path} does not exist')
    model = init_searcher(args.config, args.checkpoint, device=args.device)
    query_bbox = [args.x1, args.y1, args.x2, args.y2]
    stats = {}
    matches = search(model, args.query_img, query_bbox, gallery.images,
                     topk=args.topk, score_thr=args.score_thr,
                     batch_size=args.batch_size, gfn_thr=gfn_threshold(args),
                     stats=stats, skip_unreadable=True)
    print()
    if stats['unreadable']:
        print(f'{len(stats["unreadable"])} unreadable gallery image(s) '
              f'skipped: {", ".join(stats["unreadable"])}')
    if stats['gfn_thr'] is not None:
        print(f'GFN filter (threshold {stats["gfn_thr"]:.4f}): '
              f'{stats["num_skipped"]} of {stats["num_scenes"]} gallery '
              'images skipped before detection')
    if not matches:
        print(f'no person detected with score >= {args.score_thr}')
    print_matches(matches, gallery)
    canvas = render(mmcv.imread(args.query_img), query_bbox, matches, gallery)
    mmcv.imwrite(canvas, args.out_file)
    print(f'visualization written to {args.out_file}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the demo; 1 (after a message) for bad input, else 0."""
    args = parse_args(argv)
    try:
        run(args)
    except SearchInputError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
