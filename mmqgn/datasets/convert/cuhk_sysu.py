"""Convert the raw CUHK-SYSU release to mmqgn's standardized format.

Input layout and legacy ``loadmat`` access patterns: ``docs/data_format.md``
section 1; output: sections 2 and 3. Rules from ``gfn_seqnext.md`` 5.1-5.3
and ``qgn_qeeps.md`` 10.1:

* Only boxes with w > 0 and h > 0 of ``Images.mat`` are kept; trainval images
  are the images of ``Images.mat`` not listed in ``pool.mat``, test images
  the ones listed (both in ``Images.mat`` order).
* Person ids: ``Train.mat`` index + 1 (trainval) and ``TestG50.mat`` query
  index + 1 (test, from the query box and the gallery boxes). A box gets the
  id when it equals, after an int cast of both (as the legacy code does),
  a ``Train.mat`` / ``TestG50.mat`` box of the same image; the first equal
  box wins. All other boxes are unlabeled (``person_id = -1``).
* Retrieval sets: ``G50`` ... ``G4000`` (one per ``TestG*.mat`` present;
  ``TestG50`` and ``TestG100`` are required), ``GFull`` (``TestG50`` lists
  followed by every other test image), ``GOcclusion`` (``Occlusion.mat``,
  key ``Occlusion1``) and ``GResolution`` (``Resolution.mat``, key
  ``Test_Size``), and ``val``. Query boxes are matched to the test
  annotations in the same way (int cast).
* Train/val split: seed 0, random component order, components of >= 2
  scenes go to val while it holds fewer than ``ceil(0.2 N)`` scenes.

Deviations from the legacy/GFN code:

* A gallery entry without a box (a distractor) is skipped, not the end of
  the list (the legacy code ``break``s; the published files list the images
  holding the person first, so the result is the same).
* An image without any valid box is kept (with no annotations) and logged;
  the legacy code asserts.
* ``Occlusion.mat`` / ``Resolution.mat`` / ``TestG500``+ are optional: a
  missing one is logged and its set not written.
* Problems the legacy code ignores or crashes on stop the converter with a
  :class:`ConversionError` naming the file: a missing image, a box that is
  not 4 numbers, a protocol query that matches no box, a gallery image that
  is not a test image. ``Train.mat`` boxes that match no box are counted
  and logged, as the legacy code ignores them.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import numpy as np

from .common import (ConversionError, build_coco, finish_conversion,
                     image_size, load_mat, log, make_annotation, make_image,
                     make_retrieval, mat_box, mat_records, mat_str, progress,
                     query_entry)

DATASET = 'CUHK-SYSU'
IMAGE_DIR = 'Image/SSM'
TRAIN_TEST = 'annotation/test/train_test'
GALLERY_SIZES = (50, 100, 500, 1000, 2000, 4000)
REQUIRED_SIZES = (50, 100)
SUBSETS = (('GOcclusion', 'annotation/test/subset/Occlusion.mat',
            'Occlusion1'),
           ('GResolution', 'annotation/test/subset/Resolution.mat',
            'Test_Size'))
SPLIT = dict(seed=0, min_component_size=2, reverse=False)

Box = Tuple[int, int, int, int]


def _int_box(box) -> Box:
    return tuple(int(v) for v in np.asarray(box, dtype=np.float64))


# --------------------------------------------------------------------------
# raw files
# --------------------------------------------------------------------------
def read_images_mat(root: str) -> 'OrderedDict[str, np.ndarray]':
    """``Images.mat``: image name -> (n, 4) float boxes with w, h > 0."""
    path = osp.join(root, 'annotation', 'Images.mat')
    _, arr = load_mat(path, ['Img'])
    scenes = OrderedDict()
    for i, rec in enumerate(mat_records(arr, 3, f'{path}: Img')):
        name = mat_str(rec[0], f'{path}: Img[{i}].imname')
        boxes = _scene_boxes(rec[2], f'{path}: Img[{i}] ({name})')
        valid = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
        if not valid.any():
            log(f'{path}: {name} has no valid box', warning=True)
        if name in scenes:
            raise ConversionError(f'{path}: image {name} listed twice')
        scenes[name] = boxes[valid]
    return scenes


def _scene_boxes(box_field, where: str) -> np.ndarray:
    if np.asarray(box_field).size == 0:
        return np.zeros((0, 4))
    recs = mat_records(box_field, 1, f'{where}.box')
    boxes = [mat_box(b[0], f'{where}.box[{j}].idlocate')
             for j, b in enumerate(recs)]
    return np.stack(boxes).reshape(len(boxes), 4)


def read_pool(root: str, scenes: Dict[str, np.ndarray]) -> set:
    """``pool.mat``: the names of the test images."""
    path = osp.join(root, 'annotation', 'pool.mat')
    _, arr = load_mat(path, ['pool'])
    if arr.dtype != object:
        raise ConversionError(f'{path}: pool must be a cell array of names')
    names = [mat_str(x, f'{path}: pool[{i}]')
             for i, x in enumerate(arr.ravel())]
    missing = [n for n in names if n not in scenes]
    if missing:
        raise ConversionError(f'{path}: {len(missing)} test images are not '
                              f'in Images.mat, e.g. {missing[0]}')
    return set(names)


def read_train(root: str) -> List[List[Tuple[str, Box]]]:
    """``Train.mat``: per identity (index + 1 = id), its (image, box)."""
    path = osp.join(root, TRAIN_TEST, 'Train.mat')
    _, arr = load_mat(path, ['Train'])
    if arr.dtype != object:
        raise ConversionError(f'{path}: Train must be a cell array')
    people = []
    for k, item in enumerate(arr.ravel()):
        where = f'{path}: Train[{k}]'
        rec = mat_records(item, 3, where)
        if rec.size != 1:
            raise ConversionError(f'{where}: expected a 1 x 1 struct')
        scene = mat_records(rec[0][2], 2, f'{where}.scene')
        people.append([(mat_str(s[0], f'{where}.scene[{j}].imname'),
                        _int_box(mat_box(s[1], f'{where}.scene[{j}]')))
                       for j, s in enumerate(scene)])
    return people


def read_protocol(path: str, key: str) -> List[tuple]:
    """A TestG / subset file: per query (image, box, [(image, box|None)])."""
    log(f'{DATASET}: reading {path}')
    _, arr = load_mat(path, [key])
    items = mat_records(arr, 2, f'{path}: {key}')
    for field in ('Query', 'Gallery'):
        if field not in items.dtype.names:
            raise ConversionError(f'{path}: {key} has no field {field!r}')
    return [_protocol_item(item, f'{path}: {key}[{q}]')
            for q, item in enumerate(items)]


def _protocol_item(item, where: str) -> tuple:
    query = mat_records(item['Query'], 2, f'{where}.Query')
    if query.size != 1:
        raise ConversionError(f'{where}.Query: expected a 1 x 1 struct')
    name = mat_str(query[0][0], f'{where}.Query.imname')
    box = _int_box(mat_box(query[0][1], f'{where}.Query.idlocate'))
    gallery = []
    for g, rec in enumerate(mat_records(item['Gallery'], 2,
                                        f'{where}.Gallery')):
        gw = f'{where}.Gallery[{g}]'
        gbox = None
        if np.asarray(rec[1]).size:
            gbox = _int_box(mat_box(rec[1], gw + '.idlocate'))
        gallery.append((mat_str(rec[0], gw + '.imname'), gbox))
    return name, box, gallery


# --------------------------------------------------------------------------
# partitions and person ids
# --------------------------------------------------------------------------
class _Partition:
    """Images and annotations of one partition, with lookups by name."""

    def __init__(self, name: str, names: List[str], scenes: dict,
                 sizes: dict, first_img: int, first_ann: int) -> None:
        self.name = name
        self.images, self.anns, self.by_name = [], [], {}
        ann_id = first_ann
        for img_id, fname in enumerate(names, start=first_img):
            self.images.append(make_image(img_id, f'{IMAGE_DIR}/{fname}',
                                          sizes[fname]))
            anns = []
            for box in scenes[fname]:
                anns.append(make_annotation(ann_id, img_id, box, -1))
                ann_id += 1
            self.by_name[fname] = (img_id, anns)
            self.anns.extend(anns)

    def find(self, name: str, box: Box) -> Optional[dict]:
        """The first box of image ``name`` equal to ``box`` after int cast."""
        for ann in self.by_name[name][1]:
            if _int_box(ann['bbox']) == box:
                return ann
        return None

    def set_pid(self, name: str, box: Box, pid: int) -> bool:
        ann = self.find(name, box)
        if ann is None:
            return False
        ann['person_id'], ann['is_known'] = pid, True
        return True

    def coco(self) -> dict:
        return build_coco(DATASET, self.name, self.images, self.anns)


def _assign_train_ids(trainval: _Partition, people: list, scenes: dict,
                      path: str) -> None:
    unmatched = 0
    for index, boxes in enumerate(people):
        for name, box in boxes:
            if name not in scenes:
                raise ConversionError(f'{path}: Train[{index}] refers to '
                                      f'{name}, which is not in Images.mat')
            if name not in trainval.by_name or \
                    not trainval.set_pid(name, box, index + 1):
                unmatched += 1
    if unmatched:
        log(f'{path}: {unmatched} boxes match no trainval box of Images.mat '
            '(ignored, as in the legacy code)', warning=True)


def _assign_test_ids(test: _Partition, protocol: list, path: str) -> None:
    for index, (name, box, gallery) in enumerate(protocol):
        _check_test_image(test, name, f'{path}: query {index}')
        if not test.set_pid(name, box, index + 1):
            raise ConversionError(f'{path}: query {index} box {list(box)} '
                                  f'matches no box of {name} in Images.mat')
        for gname, gbox in gallery:
            _check_test_image(test, gname, f'{path}: query {index} gallery')
            if gbox is not None:
                test.set_pid(gname, gbox, index + 1)


def _check_test_image(test: _Partition, name: str, where: str) -> None:
    if name not in test.by_name:
        raise ConversionError(f'{where}: image {name} is not a test image '
                              '(not in pool.mat / Images.mat)')


# --------------------------------------------------------------------------
# retrieval sets
# --------------------------------------------------------------------------
def _protocol_queries(test: _Partition, protocol: list, path: str) -> list:
    queries = []
    for q, (name, box, gallery) in enumerate(protocol):
        where = f'{path}: query {q}'
        _check_test_image(test, name, where)
        ann = test.find(name, box)
        if ann is None or not ann['is_known']:
            what = 'matches no box' if ann is None else \
                'matches an unlabeled box'
            raise ConversionError(f'{where} ({name}, box {list(box)}) {what}'
                                  ' of the test annotations')
        for gname, _ in gallery:
            _check_test_image(test, gname, where + ' gallery')
        queries.append(query_entry(
            ann, [test.by_name[g][0] for g, _ in gallery]))
    return queries


def _retrieval_sets(root: str, test: _Partition, protocols: dict) -> list:
    sets = []
    for size, (path, protocol) in protocols.items():
        queries = _protocol_queries(test, protocol, path)
        sets.append(make_retrieval(f'G{size}', DATASET, queries))
        if size == 50:
            all_test = [img['id'] for img in test.images]
            sets.append(make_retrieval('GFull', DATASET, queries,
                                       gallery=all_test,
                                       exclude_query_image=True))
    for name, rel, key in SUBSETS:
        path = osp.join(root, rel)
        if not osp.exists(path):
            log(f'{path} not found: retrieval set {name} not written',
                warning=True)
            continue
        queries = _protocol_queries(test, read_protocol(path, key), path)
        sets.append(make_retrieval(name, DATASET, queries))
    return sets


def _read_protocols(root: str) -> 'OrderedDict[int, tuple]':
    protocols = OrderedDict()
    for size in GALLERY_SIZES:
        path = osp.join(root, TRAIN_TEST, f'TestG{size}.mat')
        if size not in REQUIRED_SIZES and not osp.exists(path):
            log(f'{path} not found: retrieval set G{size} not written',
                warning=True)
            continue
        protocols[size] = (path, read_protocol(path, f'TestG{size}'))
    return protocols


# --------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------
def _read_sizes(root: str, names: List[str], show: bool) -> dict:
    log(f'{DATASET}: reading the sizes of {len(names)} images')
    return {n: image_size(osp.join(root, IMAGE_DIR, n), root)
            for n in progress(names, show)}


def convert_cuhk_sysu(root: str,
                      out_dir: Optional[str] = None,
                      show_progress: bool = True) -> dict:
    """Convert a raw CUHK-SYSU folder; see the module docstring.

    Writes ``<out_dir>/annotations/{trainval,train,val,test}.json`` and
    ``<out_dir>/retrieval/<name>.json`` (all or nothing).

    Args:
        root (str): The dataset root (holding ``Image/`` and
            ``annotation/``); ``file_name`` is relative to it.
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
    scenes = read_images_mat(root)
    test_names = read_pool(root, scenes)
    people = read_train(root)
    protocols = _read_protocols(root)
    sizes = _read_sizes(root, list(scenes), show_progress)
    tv_names = [n for n in scenes if n not in test_names]
    trainval = _Partition('trainval', tv_names, scenes, sizes, 0, 0)
    test = _Partition('test', [n for n in scenes if n in test_names], scenes,
                      sizes, len(trainval.images), len(trainval.anns))
    _assign_train_ids(trainval, people, scenes,
                      osp.join(root, TRAIN_TEST, 'Train.mat'))
    _assign_test_ids(test, protocols[50][1], protocols[50][0])
    retrievals = _retrieval_sets(root, test, protocols)
    return finish_conversion(DATASET, trainval.coco(), test.coco(),
                             retrievals, out_dir or root, SPLIT,
                             expect_disjoint=True)
