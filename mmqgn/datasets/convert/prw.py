"""Convert the raw PRW release to mmqgn's standardized format.

Input layout: ``docs/data_format.md`` section 1; output: sections 2 and 3.
Rules from ``gfn_seqnext.md`` 5.1-5.3 and 8.3 and ``qgn_qeeps.md`` 10.2-10.3:

* Frames: ``frame_train.mat`` (trainval) and ``frame_test.mat`` (test), in
  file order. Boxes: ``annotations/<frame>.jpg.mat``, keys ``box_new``,
  ``anno_file``, ``anno_previous`` tried in that order, rows
  ``[pid, x, y, w, h]``; negative values are clipped to 0; pid -2 (any
  negative pid) -> ``person_id = -1``. ``cam_id`` = the digit after ``c``
  in the frame name.
* Queries (``query_info.txt``, ``pid x y w h frame``) are matched to the
  annotation of that test frame with the same pid and a near-equal box
  (largest coordinate difference <= 1.5 px, or IoU > 0.95; the closest one
  wins). This absorbs the known rounding mismatch that GFN patches by hand
  for three queries (c5s2_042630, c5s2_082752, c5s2_120599).
* Retrieval sets: ``test`` (shared gallery = all test frames, query frame
  excluded), ``same_cam`` (camera ``same``, query frame *kept*: reference
  behaviour, gfn_seqnext.md 8.3 item 22), ``cross_cam`` (camera ``cross``),
  ``mini`` (the 30 PRW-mini queries of qgn_qeeps.md 10.3, gallery as
  ``test``) and ``val``.
* Train/val split: seed 2, reversed random component order, no size
  condition; the most frequent person ids (by box count) are ignored when
  building the scene graph.

Deviations from the legacy/GFN code:

* Box coordinates stay floats (GFN truncates them to int).
* The number of ignored frequent ids is ``min(100, floor(0.25 * K))`` for
  K known trainval ids: 100 as in the paper for the real PRW (K = 483), but
  fewer on small (e.g. synthetic) data, where ignoring 100 ids would cut
  every edge and reduce the graph to singletons.
* ``mini``: when the dataset does not hold all 30 published PRW-mini
  queries (matched by frame + pid), ``min(30, #queries)`` queries are drawn
  with ``RandomState(0)`` instead and a warning says that this is not the
  published PRW-mini.
"""
import math
import os.path as osp
import re
from typing import List, Optional, Tuple

import numpy as np

from .common import (ConversionError, build_coco, finish_conversion,
                     image_size, load_mat, log, make_annotation, make_image,
                     make_retrieval, mat_str, most_common_pids, progress,
                     query_entry)

DATASET = 'PRW'
BOX_KEYS = ('box_new', 'anno_file', 'anno_previous')
IGNORE_TOP_K = 100
IGNORE_MAX_FRAC = 0.25
MINI_SIZE = 30
MINI_SEED = 0
SPLIT = dict(seed=2, min_component_size=1, reverse=True)

# PRW-mini (qgn_qeeps.md 10.3): (pid, frame) of the 30 published queries.
PRW_MINI = (
    (484, 'c2s1_159941'), (493, 'c4s3_026629'), (495, 'c2s1_157566'),
    (504, 'c4s3_025379'), (537, 'c2s2_012212'), (559, 'c4s3_037479'),
    (596, 'c2s2_036262'), (601, 'c6s2_050518'), (607, 'c2s2_060532'),
    (617, 'c4s3_063104'), (640, 'c6s2_077843'), (647, 'c4s4_020410'),
    (662, 'c6s2_057368'), (696, 'c6s2_069918'), (703, 'c6s2_072743'),
    (707, 'c5s2_127849'), (713, 'c5s2_083202'), (735, 'c5s2_104727'),
    (751, 'c5s2_105577'), (755, 'c5s2_123749'), (776, 'c3s2_107603'),
    (778, 'c1s4_047481'), (828, 'c1s4_050856'), (832, 'c1s4_053261'),
    (848, 'c1s4_055586'), (862, 'c1s4_060111'), (863, 'c3s2_117519'),
    (871, 'c3s2_119569'), (902, 'c3s2_125219'), (906, 'c3s2_125794'))

Query = Tuple[int, np.ndarray, str, int]  # pid, box, frame, line number


# --------------------------------------------------------------------------
# raw files
# --------------------------------------------------------------------------
def read_frame_list(root: str, split: str) -> List[str]:
    """Frame names (without ``.jpg``) of ``frame_{split}.mat``."""
    path = osp.join(root, f'frame_{split}.mat')
    _, arr = load_mat(path, [f'img_index_{split}'])
    if arr.dtype != object:
        raise ConversionError(f'{path}: img_index_{split} must be a cell '
                              'array of frame names')
    names = [mat_str(x, f'{path}: img_index_{split}[{i}]')
             for i, x in enumerate(arr.ravel())]
    return [n[:-4] if n.endswith('.jpg') else n for n in names]


def read_frame_boxes(root: str, frame: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(pids (n,), boxes (n, 4))`` of one frame, clipped at 0."""
    path = osp.join(root, 'annotations', f'{frame}.jpg.mat')
    key, arr = load_mat(path, BOX_KEYS)
    try:
        arr = np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConversionError(f'{path}: {key!r} is not numeric')
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 5 or not np.isfinite(arr).all():
        raise ConversionError(f'{path}: {key!r} must be N x 5 finite '
                              f'[pid, x, y, w, h], got shape {arr.shape}')
    pids = arr[:, 0].astype(np.int64)
    return np.where(pids < 0, -1, pids), np.clip(arr[:, 1:], 0, None)


def read_queries(root: str) -> List[Query]:
    """``query_info.txt``: (pid, clipped box, frame, line number)."""
    path = osp.join(root, 'query_info.txt')
    if not osp.isfile(path):
        raise ConversionError(f'{path}: file not found')
    queries = []
    with open(path, 'r') as f:
        for num, line in enumerate(f, start=1):
            if line.strip():
                queries.append(_parse_query(line, num, path))
    return queries


def _parse_query(line: str, num: int, path: str) -> Query:
    parts = line.split()
    try:
        if len(parts) != 6:
            raise ValueError('expected 6 fields')
        pid = int(float(parts[0]))
        box = np.clip(np.array(parts[1:5], dtype=np.float64), 0, None)
    except ValueError as exc:
        raise ConversionError(f'{path}: line {num} is not "pid x y w h frame"'
                              f' ({exc}): {line.strip()!r}')
    frame = parts[5][:-4] if parts[5].endswith('.jpg') else parts[5]
    return pid, box, frame, num


def cam_id(frame: str, where: str) -> int:
    match = re.search(r'c(\d)', frame)
    if match is None:
        raise ConversionError(f'{where}: no camera id (c<digit>) in frame '
                              f'name {frame!r}')
    return int(match.group(1))


# --------------------------------------------------------------------------
# partitions
# --------------------------------------------------------------------------
def _build_partition(root: str, name: str, frames: List[str], ids: list,
                     show: bool) -> Tuple[dict, dict]:
    """COCO dict of ``frames``; ``ids`` = [next image id, next ann id]."""
    images, anns, by_frame = [], [], {}
    log(f'{DATASET}: reading {len(frames)} {name} frames')
    for frame in progress(frames, show):
        if frame in by_frame:
            raise ConversionError(f'{root}: frame {frame} listed twice')
        fname = f'frames/{frame}.jpg'
        size = image_size(osp.join(root, fname), root)
        img_id = ids[0]
        images.append(make_image(img_id, fname, size, cam_id(frame, fname)))
        pids, boxes = read_frame_boxes(root, frame)
        frame_anns = [make_annotation(ids[1] + j, img_id, box, pid)
                      for j, (pid, box) in enumerate(zip(pids, boxes))]
        by_frame[frame] = (img_id, frame_anns)
        anns.extend(frame_anns)
        ids[0], ids[1] = ids[0] + 1, ids[1] + len(frame_anns)
    return build_coco(DATASET, name, images, anns), by_frame


# --------------------------------------------------------------------------
# queries and retrieval sets
# --------------------------------------------------------------------------
def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match_query(query: Query, by_frame: dict, path: str) -> dict:
    """The annotation of a query: same frame and pid, near-equal box."""
    pid, box, frame, num = query
    if frame not in by_frame:
        raise ConversionError(f'{path}: line {num}: frame {frame} is not a '
                              'test frame (frame_test.mat)')
    best, best_diff = None, None
    for ann in by_frame[frame][1]:
        if ann['person_id'] != pid:
            continue
        abox = np.asarray(ann['bbox'])
        diff = float(np.abs(abox - box).max())
        if (diff <= 1.5 or _box_iou(abox, box) > 0.95) and \
                (best is None or diff < best_diff):
            best, best_diff = ann, diff
    if best is None:
        raise ConversionError(
            f'{path}: line {num}: query pid {pid} box '
            f'{[round(v, 2) for v in box.tolist()]} matches no annotation '
            f'of frame {frame}')
    return best


def _mini_queries(queries: List[Query], entries: List[dict]) -> List[dict]:
    index = {}
    for i, (pid, _, frame, _) in enumerate(queries):
        index.setdefault((pid, frame), i)
    found = [index[key] for key in PRW_MINI if key in index]
    if len(found) == len(PRW_MINI):
        return [entries[i] for i in found]
    k = min(MINI_SIZE, len(entries))
    pick = np.random.RandomState(MINI_SEED).choice(len(entries), k,
                                                   replace=False)
    log(f'{DATASET}: only {len(found)} of the 30 PRW-mini queries are in '
        f'query_info.txt; retrieval set "mini" holds {k} queries drawn with '
        f'seed {MINI_SEED} and is NOT the published PRW-mini', warning=True)
    return [entries[i] for i in sorted(pick.tolist())]


def _retrieval_sets(queries: List[Query], entries: List[dict],
                    test: dict) -> list:
    gallery = [img['id'] for img in test['images']]

    def shared(name, qs, camera=None, exclude=True):
        return make_retrieval(name, DATASET, qs, gallery=gallery,
                              exclude_query_image=exclude, camera=camera)

    return [shared('test', entries),
            shared('same_cam', entries, camera='same', exclude=False),
            shared('cross_cam', entries, camera='cross'),
            shared('mini', _mini_queries(queries, entries))]


def _ignored_pids(trainval: dict) -> list:
    n_known = trainval['info']['num_known_ids']
    k = min(IGNORE_TOP_K, int(math.floor(IGNORE_MAX_FRAC * n_known)))
    log(f'{DATASET}: ignoring the {k} most frequent of {n_known} trainval '
        'identities when building the split graph')
    return most_common_pids(trainval, k)


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------
def convert_prw(root: str,
                out_dir: Optional[str] = None,
                show_progress: bool = True) -> dict:
    """Convert a raw PRW folder; see the module docstring.

    Writes ``<out_dir>/annotations/{trainval,train,val,test}.json`` and
    ``<out_dir>/retrieval/{test,same_cam,cross_cam,mini,val}.json`` (all or
    nothing).

    Args:
        root (str): The dataset root (holding ``frames/``, ``annotations/``,
            ``frame_{train,test}.mat``, ``query_info.txt``).
        out_dir (str, optional): Output folder. Defaults to ``root``.
        show_progress (bool): Show progress bars.

    Returns:
        dict: ``dataset``, ``partitions`` (per partition: scenes, boxes,
        known_ids, known_boxes, unknown_boxes), ``shared_train_val_ids`` and
        ``retrieval`` (query count per set).

    Raises:
        ConversionError: a raw file is missing or malformed (nothing is
            written then).
    """
    train_frames = read_frame_list(root, 'train')
    test_frames = read_frame_list(root, 'test')
    queries = read_queries(root)
    ids = [0, 0]
    trainval, _ = _build_partition(root, 'trainval', train_frames, ids,
                                   show_progress)
    test, by_frame = _build_partition(root, 'test', test_frames, ids,
                                      show_progress)
    path = osp.join(root, 'query_info.txt')
    entries = [query_entry(match_query(q, by_frame, path)) for q in queries]
    retrievals = _retrieval_sets(queries, entries, test)
    split = dict(SPLIT, ignore_pids=_ignored_pids(trainval))
    return finish_conversion(DATASET, trainval, test, retrievals,
                             out_dir or root, split, expect_disjoint=False)
