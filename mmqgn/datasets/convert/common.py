"""Shared pieces of the raw-dataset converters.

Contract: ``docs/data_format.md`` (sections 2 and 3). Reference behaviour:
``gfn_seqnext.md`` section 5.2 (COCO-style format, ``iou_thresh``), 5.3
(train/val split by connected components of scenes that share identities,
Table 6 statistics) and 5.2 / 8.3 (the ``val`` retrieval set).

Deviations from the GFN reference code (``LukeJaffe/GFN``, ``coco_utils.py``
and ``*_utils.py``), all deliberate:

* Unlabeled people keep ``person_id = -1`` (GFN gives each one a unique id
  from 5555); they never create edges in the split graph, exactly as unique
  ids would not.
* Every image is a node of the split graph, including images without boxes
  (GFN only uses images that hold an annotation, so such images end up in
  neither ``train`` nor ``val``).
* ``val`` retrieval set: a query's gallery holds each *other* image that
  contains the person once (GFN may list the query image itself and repeat
  images where the person appears twice), padded with random val images
  (never the query image) up to 100, or all val images when there are fewer.
  The random stream matches GFN (one ``RandomState(0)``, the image list
  shuffled in place once per query).
* Image and annotation ids are global over one dataset: trainval first, then
  test (as GFN numbers them); ``train``/``val`` keep the trainval ids.
"""
import json
import logging
import math
import os
import os.path as osp
import shutil
import tempfile
from collections import Counter, OrderedDict, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress

PARTITIONS = ('trainval', 'test', 'train', 'val')


class ConversionError(ValueError):
    """A raw file is missing or malformed; the message names the file."""


def iou_thresh(w: float, h: float) -> float:
    """Retrieval IoU threshold of a GT box: ``min(0.5, wh/((w+10)(h+10)))``."""
    return min(0.5, (w * h) / ((w + 10.0) * (h + 10.0)))


def log(msg: str, warning: bool = False) -> None:
    """Log through MMEngine's current logger."""
    level = logging.WARNING if warning else logging.INFO
    print_log(msg, logger='current', level=level)


def progress(items: Sequence, show: bool = True) -> Iterable:
    """Iterate ``items`` with an MMEngine progress bar when ``show``."""
    if not show or len(items) == 0:
        return iter(items)
    return track_iter_progress(list(items))


# --------------------------------------------------------------------------
# raw file reading
# --------------------------------------------------------------------------
def load_mat(path: str, keys: Sequence[str]) -> Tuple[str, np.ndarray]:
    """Load a .mat file and return ``(key, array)`` of the first key found.

    Raises:
        ConversionError: the file is missing or unreadable, or holds none of
            ``keys``.
    """
    from scipy.io import loadmat
    if not osp.isfile(path):
        raise ConversionError(f'{path}: file not found')
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises several types for bad files
        raise ConversionError(f'{path}: cannot read .mat file ({exc})')
    for key in keys:
        if key in mat:
            return key, mat[key]
    found = sorted(k for k in mat if not k.startswith('__'))
    raise ConversionError(f'{path}: missing key {" / ".join(map(repr, keys))}'
                          f' (keys found: {found})')


def mat_str(value, where: str) -> str:
    """The string of a MATLAB char array as loadmat returns it."""
    arr = np.asarray(value).ravel()
    if arr.size != 1 or not isinstance(arr[0], str):
        raise ConversionError(f'{where}: expected a string, got {value!r}')
    return str(arr[0])


def mat_box(value, where: str) -> np.ndarray:
    """A ``[x, y, w, h]`` box (4 numbers) as a float64 array."""
    try:
        box = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ConversionError(f'{where}: box is not numeric: {value!r}')
    if box.size != 4 or not np.all(np.isfinite(box)):
        raise ConversionError(
            f'{where}: box must be 4 finite numbers, got {box.tolist()}')
    return box


def mat_records(arr, fields: int, where: str) -> np.ndarray:
    """A MATLAB struct array, flattened, checked to have ``fields`` fields."""
    arr = np.asarray(arr)
    names = arr.dtype.names
    if names is None or len(names) < fields:
        raise ConversionError(
            f'{where}: expected a struct array with at least {fields} '
            f'fields, got dtype {arr.dtype}')
    return arr.ravel()


def image_size(path: str, root: str) -> Tuple[int, int]:
    """``(width, height)`` from the image header (no full decode)."""
    from PIL import Image
    rel = osp.relpath(path, root)
    if not osp.isfile(path):
        raise ConversionError(f'{rel}: image file not found under {root}')
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception as exc:  # PIL raises several types for corrupt files
        raise ConversionError(f'{rel}: unreadable or corrupt image ({exc})')
    return int(width), int(height)


# --------------------------------------------------------------------------
# COCO dicts
# --------------------------------------------------------------------------
def make_image(img_id: int, file_name: str, size: Tuple[int, int],
               cam_id: int = -1) -> dict:
    return dict(id=int(img_id), file_name=file_name, height=int(size[1]),
                width=int(size[0]), cam_id=int(cam_id))


def make_annotation(ann_id: int, image_id: int, bbox: Sequence[float],
                    person_id: int) -> dict:
    x, y, w, h = (float(v) for v in bbox)
    return dict(id=int(ann_id), image_id=int(image_id), category_id=1,
                iscrowd=0, bbox=[x, y, w, h], area=w * h,
                person_id=int(person_id), is_known=bool(person_id >= 0),
                iou_thresh=iou_thresh(w, h))


def build_coco(dataset: str, partition: str, images: List[dict],
               annotations: List[dict]) -> dict:
    known = {a['person_id'] for a in annotations if a['is_known']}
    return dict(
        info=dict(dataset=dataset, partition=partition,
                  num_known_ids=len(known)),
        categories=[dict(id=1, name='person')],
        images=images, annotations=annotations)


def subset_coco(coco: dict, image_ids: Iterable[int],
                partition: str) -> dict:
    """The images (in ``coco`` order) of ``image_ids`` and their boxes."""
    keep = set(image_ids)
    images = [img for img in coco['images'] if img['id'] in keep]
    anns = [a for a in coco['annotations'] if a['image_id'] in keep]
    return build_coco(coco['info']['dataset'], partition, images, anns)


# --------------------------------------------------------------------------
# train/val split (gfn_seqnext.md 5.3)
# --------------------------------------------------------------------------
def scene_components(coco: dict, ignore_pids: Iterable[int] = ()) -> list:
    """Connected components of the scenes (nodes in image order) when two
    scenes sharing a known person id (not in ``ignore_pids``) are linked."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    index = {img['id']: i for i, img in enumerate(coco['images'])}
    ignore = set(ignore_pids)
    holders = defaultdict(list)
    for ann in coco['annotations']:
        pid = ann['person_id']
        if ann['is_known'] and pid not in ignore:
            holders[pid].append(index[ann['image_id']])
    rows, cols = [], []
    for nodes in holders.values():  # a chain links all holders of a pid
        rows.extend(nodes[:-1])
        cols.extend(nodes[1:])
    n = len(index)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    n_cc, labels = connected_components(graph, directed=False)
    comps = [[] for _ in range(n_cc)]
    for img, label in zip(coco['images'], labels):
        comps[label].append(img['id'])
    return comps


def most_common_pids(coco: dict, k: int) -> List[int]:
    """The ``k`` known person ids with the most boxes."""
    counts = Counter(a['person_id'] for a in coco['annotations']
                     if a['is_known'])
    return [pid for pid, _ in counts.most_common(k)]


def split_trainval(coco: dict,
                   seed: int,
                   min_component_size: int = 1,
                   reverse: bool = False,
                   ignore_pids: Iterable[int] = (),
                   val_frac: float = 0.2) -> Tuple[List[int], List[int]]:
    """Assign whole components to val until it holds ``ceil(val_frac N)``
    scenes (GFN ``_split_trainval``). Returns (train ids, val ids)."""
    comps = scene_components(coco, ignore_pids)
    order = np.random.RandomState(seed).permutation(len(comps))
    if reverse:
        order = order[::-1]
    n_val_tot = int(math.ceil(len(coco['images']) * val_frac))
    train, val = [], []
    for label in order:
        comp = comps[label]
        if len(val) < n_val_tot and len(comp) >= min_component_size:
            val.extend(comp)
        else:
            train.extend(comp)
    return train, val


def known_ids(coco: dict) -> set:
    return {a['person_id'] for a in coco['annotations'] if a['is_known']}


# --------------------------------------------------------------------------
# retrieval sets (data_format.md section 3)
# --------------------------------------------------------------------------
def query_entry(ann: dict, gallery: Optional[List[int]] = None) -> dict:
    entry = dict(ann_id=ann['id'], image_id=ann['image_id'],
                 bbox=list(ann['bbox']), person_id=ann['person_id'])
    if gallery is not None:
        entry['gallery'] = [int(i) for i in gallery]
    return entry


def make_retrieval(name: str,
                   dataset: str,
                   queries: List[dict],
                   ann_file: str = 'test.json',
                   gallery: Optional[List[int]] = None,
                   exclude_query_image: bool = False,
                   camera: Optional[str] = None) -> dict:
    return OrderedDict(
        name=name, dataset=dataset, ann_file=ann_file,
        gallery=None if gallery is None else [int(i) for i in gallery],
        exclude_query_image=bool(exclude_query_image), camera=camera,
        queries=queries)


def build_val_retrieval(val: dict, gallery_size: int = 100,
                        seed: int = 0) -> dict:
    """``val`` set: every box of a person with >= 2 boxes is a query."""
    rng = np.random.RandomState(seed)
    by_pid = defaultdict(list)  # first-appearance order, as GFN
    for ann in val['annotations']:
        if ann['is_known']:
            by_pid[ann['person_id']].append(ann)
    pool = [img['id'] for img in val['images']]
    queries = []
    for anns in by_pid.values():
        if len(anns) < 2:
            continue
        for query in anns:
            gallery = _val_gallery(query, anns, pool, gallery_size, rng)
            queries.append(query_entry(query, gallery))
    return make_retrieval('val', val['info']['dataset'], queries,
                          ann_file='val.json')


def _val_gallery(query: dict, anns: List[dict], pool: List[int],
                 size: int, rng: np.random.RandomState) -> List[int]:
    qimg = query['image_id']
    gallery = []
    for ann in anns:
        img = ann['image_id']
        if img != qimg and img not in gallery and len(gallery) < size:
            gallery.append(img)
    rng.shuffle(pool)
    seen = set(gallery)
    for img in pool:
        if len(gallery) >= size:
            break
        if img != qimg and img not in seen:
            gallery.append(img)
            seen.add(img)
    return gallery


# --------------------------------------------------------------------------
# statistics (gfn_seqnext.md Table 6)
# --------------------------------------------------------------------------
def partition_stats(coco: dict) -> Dict[str, int]:
    anns = coco['annotations']
    n_known = sum(1 for a in anns if a['is_known'])
    return dict(scenes=len(coco['images']), boxes=len(anns),
                known_ids=len(known_ids(coco)), known_boxes=n_known,
                unknown_boxes=len(anns) - n_known)


def format_stats(stats: dict) -> str:
    """A Markdown table like Table 6 of gfn_seqnext.md, plus query counts."""
    parts = stats['partitions']
    names = [p for p in PARTITIONS if p in parts]
    rows = [('Scenes', 'scenes'), ('Boxes', 'boxes'),
            ('Known IDs', 'known_ids'), ('Known boxes', 'known_boxes'),
            ('Unknown boxes', 'unknown_boxes')]
    lines = [f'{stats["dataset"]}',
             '| Metadata | ' + ' | '.join(names) + ' |',
             '|---' * (len(names) + 1) + '|']
    for title, key in rows:
        vals = ' | '.join(f'{parts[p][key]:,}' for p in names)
        lines.append(f'| {title} | {vals} |')
    lines.append('identities shared by train and val: '
                 f'{stats["shared_train_val_ids"]}')
    lines.append('retrieval sets (queries): ' + ', '.join(
        f'{k} {v}' for k, v in stats['retrieval'].items()))
    return '\n'.join(lines)


# --------------------------------------------------------------------------
# assembling and writing
# --------------------------------------------------------------------------
def finish_conversion(dataset: str, trainval: dict, test: dict,
                      retrievals: List[dict], out_dir: str,
                      split_kwargs: dict, expect_disjoint: bool) -> dict:
    """Split trainval, add the val set, write everything, return stats.

    ``expect_disjoint``: warn when train and val share an identity.
    """
    train_ids, val_ids = split_trainval(trainval, **split_kwargs)
    train = subset_coco(trainval, train_ids, 'train')
    val = subset_coco(trainval, val_ids, 'val')
    shared = known_ids(train) & known_ids(val)
    log(f'{dataset}: train {len(train_ids)} / val {len(val_ids)} scenes, '
        f'{len(shared)} identities shared by train and val',
        warning=bool(shared) and expect_disjoint)
    _check_split(dataset, len(train_ids), len(val_ids))
    retrievals = list(retrievals) + [build_val_retrieval(val)]
    for rset in retrievals:
        log(f'{dataset} retrieval set {rset["name"]}: '
            f'{len(rset["queries"])} queries')
    colls = dict(trainval=trainval, test=test, train=train, val=val)
    files = {f'annotations/{k}.json': v for k, v in colls.items()}
    files.update({f'retrieval/{r["name"]}.json': r for r in retrievals})
    write_outputs(out_dir, files)
    return dict(
        dataset=dataset,
        partitions={k: partition_stats(v) for k, v in colls.items()},
        shared_train_val_ids=len(shared),
        retrieval={r['name']: len(r['queries']) for r in retrievals})


def _check_split(dataset: str, n_train: int, n_val: int,
                 val_frac: float = 0.2) -> None:
    """Warn when one component swallowed the split (e.g. small data)."""
    target = int(math.ceil((n_train + n_val) * val_frac))
    if n_train and n_val and n_val <= 2 * target:
        return
    log(f'{dataset}: degenerate train/val split ({n_train} train / {n_val} '
        f'val scenes, target {target} val scenes): the scenes that share '
        'identities form a connected component larger than the target',
        warning=True)


def write_outputs(out_dir: str, files: Dict[str, dict]) -> None:
    """Write all ``files`` (relative path -> JSON object) or none of them.

    Everything is serialized into a temporary folder inside ``out_dir``
    first; only when that succeeded are the files moved into place.
    """
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.mmqgn-convert-', dir=out_dir)
    try:
        for rel, obj in files.items():
            path = osp.join(tmp, rel)
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                json.dump(obj, f)
        for rel in files:
            dst = osp.join(out_dir, rel)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            os.replace(osp.join(tmp, rel), dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def converter_main(convert, description: str, root_help: str,
                   argv=None) -> int:
    """Command line of a converter: ``root [-o OUT] [--no-progress]``.

    Prints the statistics; a :class:`ConversionError` is printed as one
    ``error: ...`` line and gives exit status 1.
    """
    import argparse
    import sys
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('root', help=root_help)
    parser.add_argument('-o', '--out-dir', default=None,
                        help='output folder (default: the dataset root)')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show progress bars')
    args = parser.parse_args(argv)
    try:
        stats = convert(args.root, args.out_dir,
                        show_progress=not args.no_progress)
    except ConversionError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(format_stats(stats))
    return 0
