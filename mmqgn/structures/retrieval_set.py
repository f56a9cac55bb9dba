"""Standardized annotations and retrieval sets (docs/data_format.md, 2 and 3).

:class:`PersonSearchAnnotations` indexes one COCO-style partition file
(``annotations/test.json`` ...); :class:`RetrievalSet` loads a retrieval JSON
(``retrieval/G100.json`` ...) and expands every query's gallery:

    the query's own ``gallery`` list, as listed (order kept, duplicates kept,
    the query image not removed), followed by the images of the shared
    ``gallery`` (if any) that are not already in its list, minus the query
    image when ``exclude_query_image``, restricted to the query's camera
    (``camera='same'``) or to the other cameras (``'cross'``).

Everything the protocol needs that depends only on the annotations (is the
query person in gallery image g, the first GT box of the person there, how
many boxes of the person are there, is this the first time g is listed for
the query) is precomputed once here, as flat arrays over all
``(query, gallery entry)`` pairs. Pure numpy; no torch / mmdet needed.
"""
import os.path as osp

import numpy as np

from mmqgn.utils.json_io import CONVERTER_FIX
from mmqgn.utils.json_io import load_json as _load_json

__all__ = ['PersonSearchAnnotations', 'RetrievalSet', 'load_json',
           'resolve_retrieval_set']


def load_json(path):
    """A converter-written JSON (mmqgn/utils/json_io.py: a truncated or
    malformed file gives an error naming it)."""
    return _load_json(path, CONVERTER_FIX)


class PersonSearchAnnotations:
    """Index of a standardized COCO-style person-search annotation file.

    Args:
        ann (str | dict): path of the JSON file, or its loaded content.

    Attributes (numpy arrays unless said otherwise):
        img_ids (I,): image ids, in file order; ``img_idx`` below indexes it.
        cam_ids (I,): ``cam_id`` of each image (-1 when absent).
        ann_ids (A,), ann_img_idx (A,), ann_pids (A,), ann_boxes (A, 4)
            x1y1x2y2 float64, ann_iou_thresh (A,): per annotation, in file
            order.
        img_ann_ptr (I + 1,), img_ann_order (A,): annotations of image i are
            ``img_ann_order[img_ann_ptr[i]:img_ann_ptr[i + 1]]`` (file order).
    """

    def __init__(self, ann):
        self.path = ann if isinstance(ann, str) else None
        data = load_json(ann) if isinstance(ann, str) else ann
        self.info = data.get('info', {})
        images = data['images']
        self.img_ids = np.array([int(im['id']) for im in images],
                                dtype=np.int64)
        self.cam_ids = np.array([int(im.get('cam_id', -1)) for im in images],
                                dtype=np.int64)
        self.file_names = [im.get('file_name', '') for im in images]
        if np.unique(self.img_ids).size != self.img_ids.size:
            raise ValueError(f'{self._src()}: duplicate image ids')
        self._img_sorter = np.argsort(self.img_ids, kind='stable')
        self._img_sorted = self.img_ids[self._img_sorter]

        anns = data.get('annotations', [])
        n = len(anns)
        self.ann_ids = np.array([int(a['id']) for a in anns], dtype=np.int64)
        img_of_ann = np.array([int(a['image_id']) for a in anns],
                              dtype=np.int64)
        self.ann_img_idx = self.img_index(img_of_ann, what='annotation')
        self.ann_pids = np.array([int(a.get('person_id', -1)) for a in anns],
                                 dtype=np.int64)
        xywh = np.array([a['bbox'] for a in anns],
                        dtype=np.float64).reshape(n, 4)
        self.ann_boxes = xywh.copy()
        self.ann_boxes[:, 2:] += xywh[:, :2]
        thr = []
        for a, (_, _, w, h) in zip(anns, xywh):
            t = a.get('iou_thresh')
            if t is None:
                t = min(0.5, (w * h * 1.0) / ((w + 10) * (h + 10)))
            thr.append(float(t))
        self.ann_iou_thresh = np.array(thr, dtype=np.float64)
        self._ann_id_to_idx = {int(a): i for i, a in enumerate(self.ann_ids)}

        # CSR of annotations per image, file order within an image
        self.img_ann_order = np.argsort(self.ann_img_idx, kind='stable')
        counts = np.bincount(self.ann_img_idx, minlength=self.num_images)
        self.img_ann_ptr = np.concatenate([[0], np.cumsum(counts)])

        # (person, image) lookup over labeled annotations: first box in file
        # order and number of boxes of the person in the image
        lab = np.flatnonzero(self.ann_pids >= 0)
        keys = self._pid_key(self.ann_pids[lab], self.ann_img_idx[lab])
        order = np.argsort(keys, kind='stable')  # file order within a key
        skeys = keys[order]
        uniq, first, cnt = np.unique(skeys, return_index=True,
                                     return_counts=True)
        self._pos_keys = uniq
        self._pos_first_ann = lab[order[first]]
        self._pos_count = cnt.astype(np.int64)

    # ------------------------------------------------------------------
    def _src(self):
        return self.path or 'annotations'

    @property
    def num_images(self):
        return int(self.img_ids.size)

    def _pid_key(self, pids, img_idx):
        return (np.asarray(pids, dtype=np.int64) * self.num_images +
                np.asarray(img_idx, dtype=np.int64))

    def img_index(self, img_ids, what='image', strict=True):
        """Map image ids to indices; unknown ids raise (or give -1)."""
        img_ids = np.asarray(img_ids, dtype=np.int64)
        if self._img_sorted.size == 0:
            out = np.full(img_ids.shape, -1, dtype=np.int64)
            found = np.zeros(img_ids.shape, dtype=bool)
        else:
            pos = np.searchsorted(self._img_sorted, img_ids)
            pos = np.minimum(pos, self._img_sorted.size - 1)
            found = self._img_sorted[pos] == img_ids
            out = np.where(found, self._img_sorter[pos], -1)
        if strict and not found.all():
            bad = img_ids[~found].ravel()[:5].tolist()
            raise KeyError(f'{self._src()}: {what} refers to image id(s) '
                           f'{bad} not in the annotation file')
        return out.astype(np.int64)

    def ann_index(self, ann_id):
        """Index of annotation ``ann_id`` or None."""
        return self._ann_id_to_idx.get(int(ann_id))

    def lookup_person(self, pids, img_idx):
        """Vectorised: is person ``pids[k]`` in image ``img_idx[k]``?

        Returns:
            tuple: ``found`` (bool), ``first_ann`` (index of the person's
            first box in the image in file order, -1 if not found), ``count``
            (number of boxes of the person in the image).
        """
        pids = np.asarray(pids, dtype=np.int64)
        keys = self._pid_key(pids, img_idx)
        if self._pos_keys.size == 0:
            z = np.zeros(keys.shape, dtype=np.int64)
            return np.zeros(keys.shape, bool), z - 1, z
        pos = np.searchsorted(self._pos_keys, keys)
        pos = np.minimum(pos, self._pos_keys.size - 1)
        found = (self._pos_keys[pos] == keys) & (pids >= 0)
        first = np.where(found, self._pos_first_ann[pos], -1)
        count = np.where(found, self._pos_count[pos], 0)
        return found, first, count

    def person_boxes(self, pid, img_idx):
        """Annotation indices of person ``pid`` in image ``img_idx`` (file
        order)."""
        a, b = self.img_ann_ptr[img_idx], self.img_ann_ptr[img_idx + 1]
        inds = self.img_ann_order[a:b]
        if pid < 0:
            return inds[:0]
        return inds[self.ann_pids[inds] == pid]

    def image_annotations(self, img_idx):
        """Annotation indices of image ``img_idx`` (file order)."""
        a, b = self.img_ann_ptr[img_idx], self.img_ann_ptr[img_idx + 1]
        return self.img_ann_order[a:b]


def resolve_retrieval_set(entry, ann_file=None, retrieval_dir=None):
    """Path of a retrieval set given by name (``'G100'``) or by path.

    Names resolve to ``<retrieval_dir>/<name>.json`` where ``retrieval_dir``
    defaults to ``dirname(ann_file)/../retrieval``.
    """
    entry = str(entry)
    if entry.endswith('.json') or '/' in entry or osp.sep in entry:
        return entry
    if retrieval_dir is None:
        if ann_file is None:
            raise ValueError(f'cannot resolve retrieval set {entry!r}: give '
                             'a path, retrieval_dir or ann_file')
        retrieval_dir = osp.join(osp.dirname(osp.abspath(ann_file)), '..',
                                 'retrieval')
    return osp.normpath(osp.join(retrieval_dir, f'{entry}.json'))


class RetrievalSet:
    """A retrieval set with every query's gallery expanded.

    Args:
        data (str | dict): path of the retrieval JSON, or its content.
        anns (PersonSearchAnnotations): the partition whose image and
            annotation ids the set uses.
        name (str, optional): overrides the JSON ``name`` (default: the JSON
            ``name``, else the file stem).

    Attributes:
        name (str), path (str | None), ann_file (str | None): the JSON's
            ``ann_file`` field.
        query_ann_ids, query_img_idx, query_pids (Q,): per query.
        gal_ptr (Q + 1,), gal_img_idx (G,): query q's gallery (image indices
            into ``anns.img_ids``) is ``gal_img_idx[gal_ptr[q]:gal_ptr[q+1]]``.
        entry_query (G,): query of every gallery entry.
        is_first (G,): first time the image is listed for this query.
        is_pos (G,), pos_first_ann (G,), pos_count (G,): the query person is
            in the image / index of its first box there / number of its boxes
            there.
    """

    def __init__(self, data, anns, name=None):
        self.path = data if isinstance(data, str) else None
        if isinstance(data, str):
            data = load_json(data)
        self.anns = anns
        if name is None:
            name = data.get('name')
        if name is None and self.path is not None:
            name = osp.splitext(osp.basename(self.path))[0]
        self.name = str(name if name is not None else 'retrieval')
        self.ann_file = data.get('ann_file')
        self.dataset = data.get('dataset')
        self.exclude_query_image = bool(data.get('exclude_query_image',
                                                 False))
        self.camera = data.get('camera')
        if self.camera not in (None, 'same', 'cross'):
            raise ValueError(f'retrieval set {self.name}: camera must be '
                             f'null, "same" or "cross", got {self.camera!r}')
        queries = data.get('queries', [])
        if isinstance(queries, dict):
            raise ValueError(
                f'retrieval set {self.name}: "queries" must be a list of '
                'query records (docs/data_format.md section 3)')
        shared = data.get('gallery')
        shared_idx = None
        if shared is not None:
            shared_idx = anns.img_index(
                shared, what=f'retrieval set {self.name} shared gallery')

        q_ann, q_img, q_pid, q_box = [], [], [], []
        gals = []
        for q in queries:
            ann_id = int(q['ann_id'])
            ai = anns.ann_index(ann_id)
            img_id = q.get('image_id')
            if img_id is None:
                if ai is None:
                    raise KeyError(f'retrieval set {self.name}: query ann_id '
                                   f'{ann_id} has no image_id and is not in '
                                   'the annotation file')
                img_idx = int(anns.ann_img_idx[ai])
            else:
                img_idx = int(anns.img_index(
                    [img_id], what=f'retrieval set {self.name} query '
                    f'ann_id {ann_id}')[0])
            pid = q.get('person_id')
            if pid is None:
                if ai is None:
                    raise KeyError(f'retrieval set {self.name}: query ann_id '
                                   f'{ann_id} has no person_id')
                pid = int(anns.ann_pids[ai])
            pid = int(pid)
            if pid < 0:
                raise ValueError(f'retrieval set {self.name}: query ann_id '
                                 f'{ann_id} is an unlabeled person '
                                 f'(person_id {pid}); queries must be labeled')
            box = q.get('bbox')
            if box is not None:
                x, y, w, h = [float(v) for v in box]
                box = [x, y, x + w, y + h]
            elif ai is not None:
                box = anns.ann_boxes[ai].tolist()
            else:
                box = [np.nan] * 4
            own = q.get('gallery')
            own_idx = anns.img_index(
                own if own is not None else [],
                what=f'retrieval set {self.name} query ann_id {ann_id} '
                'gallery')
            gal = own_idx
            if shared_idx is not None:
                keep = np.ones(shared_idx.size, dtype=bool)
                if own_idx.size:
                    keep &= ~np.isin(shared_idx, own_idx)
                if self.exclude_query_image:
                    keep &= shared_idx != img_idx
                if self.camera == 'same':
                    keep &= anns.cam_ids[shared_idx] == anns.cam_ids[img_idx]
                elif self.camera == 'cross':
                    keep &= anns.cam_ids[shared_idx] != anns.cam_ids[img_idx]
                gal = np.concatenate([own_idx, shared_idx[keep]])
            q_ann.append(ann_id)
            q_img.append(img_idx)
            q_pid.append(pid)
            q_box.append(box)
            gals.append(gal.astype(np.int64))

        nq = len(q_ann)
        self.query_ann_ids = np.array(q_ann, dtype=np.int64)
        self.query_img_idx = np.array(q_img, dtype=np.int64)
        self.query_pids = np.array(q_pid, dtype=np.int64)
        self.query_boxes = np.array(q_box, dtype=np.float64).reshape(nq, 4)
        lens = np.array([g.size for g in gals], dtype=np.int64)
        self.gal_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        self.gal_img_idx = (np.concatenate(gals) if gals else
                            np.zeros(0, np.int64)).astype(np.int64)
        self.entry_query = np.repeat(np.arange(nq, dtype=np.int64), lens)

        # first listing of an image for a query (legacy "already seen" rule)
        key = self.entry_query * max(anns.num_images, 1) + self.gal_img_idx
        order = np.argsort(key, kind='stable')
        skey = key[order]
        first = np.ones(key.size, dtype=bool)
        if key.size > 1:
            first[order[1:]] = skey[1:] != skey[:-1]
        self.is_first = first

        found, first_ann, count = anns.lookup_person(
            self.query_pids[self.entry_query], self.gal_img_idx)
        self.is_pos = found
        self.pos_first_ann = first_ann
        self.pos_count = count

    # ------------------------------------------------------------------
    def __len__(self):
        return int(self.query_ann_ids.size)

    @property
    def num_queries(self):
        return len(self)

    @property
    def gallery_sizes(self):
        """Number of listed gallery entries per query (duplicates count)."""
        return np.diff(self.gal_ptr)

    def gallery_image_ids(self, q):
        """Expanded gallery of query ``q`` as image ids (duplicates kept)."""
        a, b = self.gal_ptr[q], self.gal_ptr[q + 1]
        return self.anns.img_ids[self.gal_img_idx[a:b]]

    def image_indices(self, with_queries=True):
        """Sorted unique image indices referenced by the set."""
        parts = [self.gal_img_idx]
        if with_queries:
            parts.append(self.query_img_idx)
        return np.unique(np.concatenate(parts))

    def check_nonempty(self):
        """Raise if a query's expanded gallery is empty."""
        empty = np.flatnonzero(self.gallery_sizes == 0)
        if empty.size:
            q = int(empty[0])
            raise ValueError(
                f'retrieval set {self.name}: the expanded gallery of query '
                f'ann_id {int(self.query_ann_ids[q])} (image id '
                f'{int(self.anns.img_ids[self.query_img_idx[q]])}) is empty'
                + (f' ({empty.size} such queries)' if empty.size > 1 else ''))

    def __repr__(self):
        return (f'RetrievalSet(name={self.name!r}, queries={len(self)}, '
                f'gallery entries={self.gal_img_idx.size})')
