"""Evaluation-side containers for model outputs (docs/data_format.md
section 4).

The results dict itself (``gallery`` / ``queries`` / ``pairs``) and the
per-sample records it is built from are defined in
:mod:`mmqgn.structures.records`. The classes here filter detections at
``det_thresh`` once and index them by annotation image index in CSR form for
the vectorised evaluator; they exist only for evaluation, so they stay in
``mmqgn.evaluation``. Pure numpy.
"""
import numpy as np

from mmqgn.structures import pair_cut_scores, pair_key, to_numpy

__all__ = ['GalleryPredictions', 'PairPredictions', 'query_matrix']


class GalleryPredictions:
    """Gallery detections kept at ``score >= det_thresh``, CSR by image.

    Args:
        gallery (dict): ``{image_id: {'bboxes', 'scores'[, 'embeddings']}}``
            (arrays or tensors; ``bboxes`` x1y1x2y2 in original pixels).
        anns (PersonSearchAnnotations): gives the image index of each id;
            predictions for images not in the file are ignored (counted in
            ``num_ignored``).
        det_thresh (float): detection score threshold.

    Attributes:
        has_pred (I,): a prediction was given for the image.
        ndet (I,), det_ptr (I + 1,): kept detections of image i are rows
            ``det_ptr[i]:det_ptr[i + 1]`` of ``boxes`` (M, 4) float32 and
            ``scores`` (M,) float32.
        emb_src (list): per image index, the given (N, D) float32 embeddings
            of ALL its detections (not copied), or None.
        emb_keep (list): per image index, the row indices of ``emb_src``
            that were kept, or None when all were kept.
        has_embeddings (bool): every predicted image has embeddings.
    """

    def __init__(self, gallery, anns, det_thresh=0.5):
        self.det_thresh = float(det_thresh)
        n = anns.num_images
        self.num_images = n
        keys = list(gallery.keys())
        idxs = anns.img_index(np.array(keys, dtype=np.int64), strict=False) \
            if keys else np.zeros(0, np.int64)
        self.num_ignored = int((idxs < 0).sum())
        # images in index order (det_ptr order)
        order = [i for i in np.argsort(idxs, kind='stable').tolist()
                 if idxs[i] >= 0]
        img = idxs[order]
        if np.unique(img).size != img.size:
            raise ValueError('gallery predictions: several entries map to '
                             'the same image id')
        preds = [gallery[keys[i]] for i in order]
        scores_l = [to_numpy(p['scores'], np.float32).reshape(-1)
                    for p in preds]
        boxes_l = [to_numpy(p['bboxes'], np.float32).reshape(-1, 4)
                   for p in preds]
        n_raw = np.array([s.size for s in scores_l], dtype=np.int64)
        for k, (b, s) in enumerate(zip(boxes_l, scores_l)):
            if b.shape[0] != s.shape[0]:
                raise ValueError(f'gallery image {keys[order[k]]}: '
                                 f'{b.shape[0]} boxes but {s.shape[0]} '
                                 'scores')
        scores_all = np.concatenate(scores_l) if scores_l else \
            np.zeros(0, np.float32)
        boxes_all = np.concatenate(boxes_l) if boxes_l else \
            np.zeros((0, 4), np.float32)
        keep_all = scores_all >= self.det_thresh
        self.scores = scores_all[keep_all]
        self.boxes = boxes_all[keep_all]
        raw_ptr = np.concatenate([[0], np.cumsum(n_raw)])
        kept_cum = np.concatenate([[0], np.cumsum(keep_all)])
        n_kept = kept_cum[raw_ptr[1:]] - kept_cum[raw_ptr[:-1]]
        self.has_pred = np.zeros(n, dtype=bool)
        self.has_pred[img] = True
        self.ndet = np.zeros(n, dtype=np.int64)
        self.ndet[img] = n_kept
        self.det_ptr = np.concatenate([[0], np.cumsum(self.ndet)]).astype(
            np.int64)

        # embeddings: referenced, not copied; kept rows remembered
        self.emb_src = [None] * n
        self.emb_keep = [None] * n
        dim = None
        has_emb = True
        partial = set(np.flatnonzero(n_kept < n_raw).tolist())
        for k, (i, p) in enumerate(zip(img.tolist(), preds)):
            emb = p.get('embeddings') if hasattr(p, 'get') else None
            if emb is None:
                has_emb = False
                continue
            emb = to_numpy(emb, np.float32)
            if emb.size == 0 and n_raw[k] == 0:
                continue  # no detection, nothing to keep
            if emb.ndim != 2:
                emb = emb.reshape(emb.shape[0], -1)
            if emb.shape[0] != n_raw[k]:
                raise ValueError(f'gallery image {keys[order[k]]}: '
                                 f'{emb.shape[0]} embeddings but '
                                 f'{n_raw[k]} boxes')
            if not emb.flags.c_contiguous:
                emb = np.ascontiguousarray(emb)
            if dim is None:
                dim = emb.shape[1]
            elif emb.shape[1] != dim:
                raise ValueError(f'gallery image {keys[order[k]]}: '
                                 f'embedding dim {emb.shape[1]} != {dim}')
            self.emb_src[i] = emb
            if k in partial:
                self.emb_keep[i] = np.flatnonzero(
                    keep_all[raw_ptr[k]:raw_ptr[k + 1]])
        self.dim = dim
        self.has_embeddings = bool(has_emb and self.has_pred.any())
        self._emb_cat = None

    @property
    def num_dets(self):
        return int(self.det_ptr[-1])

    def embeddings(self, i):
        """Kept embeddings of image index ``i`` (a copy when filtered)."""
        e, k = self.emb_src[i], self.emb_keep[i]
        if e is None:
            return None
        return e if k is None else e[k]

    def emb_cat(self):
        """All kept embeddings (M, D) in ``det_ptr`` order (built lazily)."""
        if self._emb_cat is None:
            out = np.empty((self.num_dets, self.dim or 0), np.float32)
            for i in np.flatnonzero(self.ndet).tolist():
                a, b = self.det_ptr[i], self.det_ptr[i + 1]
                e, k = self.emb_src[i], self.emb_keep[i]
                if k is None:
                    out[a:b] = e
                else:
                    np.take(e, k, axis=0, out=out[a:b])
            self._emb_cat = out
        return self._emb_cat

    def release_cat(self):
        self._emb_cat = None


class PairPredictions:
    """Per-(query, gallery image) detections of a query-guided model.

    Args:
        pairs (dict): ``{(ann_id, image_id): {'bboxes', 'scores', 'sims'}}``.
        anns (PersonSearchAnnotations): image id -> index.
        det_thresh (float): detection score threshold.
        det_score_source (str): the score it applies to: ``'cls'``
            (``scores``, default) or ``'sim'`` (``sims``), see
            :func:`pair_cut_scores`.

    Attributes:
        n (P,), ptr (P + 1,): detections of pair p are rows
            ``ptr[p]:ptr[p + 1]`` of ``boxes`` (float32), ``scores``,
            ``sims`` (float32).
        gfn_score (P,): the pair's GFN score (NaN when not given).
        gfn_skipped (P,): the model skipped the pair (GFN filtering).
    """

    def __init__(self, pairs, anns, det_thresh=0.5, det_score_source='cls'):
        self.det_thresh = float(det_thresh)
        self.det_score_source = det_score_source
        self.num_images = max(anns.num_images, 1)
        keys, boxes_l, scores_l, sims_l, gfn_l = [], [], [], [], []
        raw = [pair_key(k) for k in pairs.keys()]
        img_idx = anns.img_index(np.array([r[1] for r in raw], np.int64),
                                 strict=False) if raw else np.zeros(0, int)
        for (ann_id, img_id), idx, pred in zip(raw, img_idx.tolist(),
                                               pairs.values()):
            if idx < 0:
                continue
            scores = to_numpy(pred['scores'], np.float32).reshape(-1)
            boxes = to_numpy(pred['bboxes'], np.float32).reshape(-1, 4)
            sims = to_numpy(pred['sims'], np.float32).reshape(-1)
            if not (boxes.shape[0] == scores.shape[0] == sims.shape[0]):
                raise ValueError(f'pair (ann_id {ann_id}, image {img_id}): '
                                 'bboxes, scores and sims differ in length')
            keep = pair_cut_scores(scores, sims,
                                   det_score_source) >= self.det_thresh
            if not keep.all():
                scores, boxes, sims = scores[keep], boxes[keep], sims[keep]
            keys.append(ann_id * self.num_images + idx)
            boxes_l.append(boxes)
            scores_l.append(scores)
            sims_l.append(sims)
            gfn_l.append((float(pred.get('gfn_score', np.nan)),
                          bool(pred.get('gfn_skipped', False))))
        keys = np.array(keys, dtype=np.int64)
        order = np.argsort(keys, kind='stable')
        self.keys = keys[order]
        gfn = np.array(gfn_l, np.float64).reshape(-1, 2)[order]
        self.gfn_score = gfn[:, 0]
        self.gfn_skipped = gfn[:, 1].astype(bool)
        n = np.array([b.shape[0] for b in boxes_l], dtype=np.int64)[order] \
            if boxes_l else np.zeros(0, np.int64)
        self.n = n
        self.ptr = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.boxes = (np.concatenate([boxes_l[i] for i in order])
                      if boxes_l else np.zeros((0, 4), np.float32))
        self.scores = (np.concatenate([scores_l[i] for i in order])
                       if boxes_l else np.zeros(0, np.float32))
        self.sims = (np.concatenate([sims_l[i] for i in order])
                     if boxes_l else np.zeros(0, np.float32))

    def lookup(self, ann_ids, img_idx):
        """Pair index for each (ann_id, image index), -1 when absent."""
        keys = (np.asarray(ann_ids, np.int64) * self.num_images +
                np.asarray(img_idx, np.int64))
        if self.keys.size == 0:
            return np.full(keys.shape, -1, np.int64)
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, self.keys.size - 1)
        return np.where(self.keys[pos] == keys, pos, -1)


def query_matrix(queries, rset):
    """(Q, D) float32 matrix of the set's query embeddings, in set order.

    Raises a clear error naming the set and the queries without embedding.
    """
    rows, missing = [], []
    for ann_id in rset.query_ann_ids.tolist():
        emb = queries.get(ann_id) if queries is not None else None
        if emb is None:
            missing.append(ann_id)
            continue
        rows.append(to_numpy(emb, np.float32).reshape(-1))
    if missing:
        raise KeyError(
            f'retrieval set {rset.name}: no query embedding for query '
            f'ann_id {missing[0]}' + (f' and {len(missing) - 1} more '
                                      f'(e.g. {missing[1:6]})'
                                      if len(missing) > 1 else ''))
    if not rows:
        return np.zeros((0, 0), np.float32)
    dims = {r.shape[0] for r in rows}
    if len(dims) != 1:
        raise ValueError(f'retrieval set {rset.name}: query embeddings have '
                         f'different sizes {sorted(dims)}')
    return np.ascontiguousarray(np.stack(rows))
