"""Containers for model outputs (docs/data_format.md section 4).

A results dict holds ``gallery`` (per image: boxes, scores, optional
embeddings), ``queries`` (per query annotation: embedding) and/or ``pairs``
(per (query ann_id, gallery image id): boxes, scores, sims). The classes here
filter detections at ``det_thresh`` once and index them by annotation image
index in CSR form for the vectorised evaluator. Pure numpy.
"""
import re

import numpy as np

__all__ = ['to_numpy', 'normalize_results', 'GalleryPredictions',
           'PairPredictions', 'query_matrix', 'sample_to_record',
           'records_to_results']


def to_numpy(x, dtype=None):
    """Tensor / array / list -> numpy array (CPU), optionally cast."""
    if x is None:
        return None
    if type(x) is np.ndarray and (dtype is None or x.dtype == dtype):
        return x
    if hasattr(x, 'detach'):  # torch.Tensor, without importing torch
        x = x.detach()
        if hasattr(x, 'float') and dtype is not None and \
                str(x.dtype) in ('torch.float16', 'torch.bfloat16'):
            x = x.float()
        x = x.cpu().numpy()
    x = np.asarray(x)
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    return x


_PAIR_KEY = re.compile(r'^\s*\(?\s*(-?\d+)\s*[,_ :/]\s*(-?\d+)\s*\)?\s*$')


def _pair_key(key):
    if isinstance(key, (tuple, list)) and len(key) == 2:
        return int(key[0]), int(key[1])
    if isinstance(key, str):
        m = _PAIR_KEY.match(key)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise ValueError(f'cannot read pair key {key!r}: expected (ann_id, '
                     'image_id) or a string "ann_id,image_id"')


def normalize_results(results):
    """Normalise a results dict (pickle or JSON flavour) in place-safe way.

    * integer keys for ``gallery`` and ``queries`` (JSON gives strings);
    * ``pairs`` keys as ``(ann_id, image_id)`` tuples; in JSON the keys may be
      strings ``"ann_id,image_id"``, or ``pairs`` may be a list of records
      with ``ann_id`` and ``image_id`` fields.
    """
    out = {}
    gallery = results.get('gallery')
    if gallery is not None:
        if isinstance(gallery, list):
            gallery = {int(g['image_id'] if 'image_id' in g else g['img_id']):
                       g for g in gallery}
        out['gallery'] = {int(k): v for k, v in gallery.items()}
    queries = results.get('queries')
    if queries is not None:
        if isinstance(queries, list):
            queries = {int(q['ann_id']): q['embedding'] for q in queries}
        out['queries'] = {int(k): v for k, v in queries.items()}
    pairs = results.get('pairs')
    if pairs is not None:
        if isinstance(pairs, list):
            pairs = {(int(p['ann_id']), int(p['image_id'])): p
                     for p in pairs}
        else:
            pairs = {_pair_key(k): v for k, v in pairs.items()}
        out['pairs'] = pairs
    query_gfn = results.get('query_gfn')
    if query_gfn is not None:
        if isinstance(query_gfn, list):
            query_gfn = {int(q['ann_id']): q for q in query_gfn}
        out['query_gfn'] = {int(k): v for k, v in query_gfn.items()}
    return out


def _as_dict(x):
    if x is None or isinstance(x, dict):
        return x
    if hasattr(x, 'to_dict'):  # mmengine BaseDataElement
        return x.to_dict()
    return dict(x)


#: which score of a pair detection the ``det_thresh`` cut applies to
#: (qgn_qeeps.md D7): 'cls' the detector's person score (``scores``), 'sim'
#: the pair similarity (``sims``, e.g. the QSimNet p_same).
DET_SCORE_SOURCES = ('cls', 'sim')


def pair_cut_scores(scores, sims, det_score_source='cls'):
    """The (N,) scores of pair detections that ``det_thresh`` cuts:
    ``scores`` for ``'cls'`` (the standard protocol), ``sims`` for
    ``'sim'`` (D7; ranking is by ``sims`` either way)."""
    if det_score_source not in DET_SCORE_SOURCES:
        raise ValueError("det_score_source must be 'cls' (detector score) "
                         f"or 'sim' (pair similarity), got "
                         f'{det_score_source!r}')
    return scores if det_score_source == 'cls' else sims


def sample_to_record(sample, det_thresh=0.5, det_score_source='cls'):
    """One data sample (dict or DetDataSample) -> a compact record.

    Three kinds (see ``PersonSearchMetric``): gallery (``img_id``,
    ``pred_instances`` with ``bboxes``, ``scores`` [, ``embeddings``]), query
    (``is_query=True``, ``query_ann_id``, ``pred_instances.embeddings``) and
    pair (``query_ann_id`` with ``is_query`` False, ``img_id``,
    ``pred_instances`` with ``bboxes``, ``scores``, ``sims``). Arrays become
    float32 numpy; detections are kept at ``score >= det_thresh`` (pairs:
    the score chosen by ``det_score_source``, see :func:`pair_cut_scores`).
    """
    sample = _as_dict(sample)
    pred = _as_dict(sample.get('pred_instances')) or {}
    qid = sample.get('query_ann_id')
    if sample.get('is_query', False):
        if qid is None:
            raise KeyError('query sample without query_ann_id')
        emb = pred.get('embeddings')
        if emb is None:
            raise KeyError(f'query sample (ann_id {int(qid)}) has no '
                           'pred_instances.embeddings')
        rec = {'kind': 'query', 'ann_id': int(qid),
               'embedding': to_numpy(emb, np.float32).reshape(-1)}
        for key in ('scene_embedding', 'gfn_query'):
            if sample.get(key) is not None:
                rec[key] = to_numpy(sample[key], np.float32).reshape(-1)
        return rec
    scores = to_numpy(pred['scores'], np.float32).reshape(-1)
    is_pair = qid is not None and int(qid) >= 0
    sims = to_numpy(pred['sims'], np.float32).reshape(-1) if is_pair \
        else None
    keep = (pair_cut_scores(scores, sims, det_score_source)
            if is_pair else scores) >= det_thresh
    rec = {'img_id': int(sample['img_id']),
           'bboxes': to_numpy(pred['bboxes'], np.float32).reshape(-1, 4)[keep],
           'scores': scores[keep]}
    if is_pair:  # pair (query-guided model)
        rec.update(kind='pair', ann_id=int(qid), sims=sims[keep])
        if sample.get('gfn_score') is not None:
            rec['gfn_score'] = float(to_numpy(sample['gfn_score']).reshape(
                -1)[0])
    else:
        rec['kind'] = 'gallery'
        emb = pred.get('embeddings')
        if emb is not None:
            emb = to_numpy(emb, np.float32)
            if emb.ndim != 2:  # (0, D) arrays cannot be reshaped with -1
                emb = emb.reshape(emb.shape[0], -1)
            rec['embeddings'] = np.ascontiguousarray(emb[keep])
        if sample.get('scene_embedding') is not None:
            rec['scene_embedding'] = to_numpy(sample['scene_embedding'],
                                              np.float32).reshape(-1)
    if sample.get('gfn_skipped', False):
        rec['gfn_skipped'] = True
    return rec


def records_to_results(records):
    """Records of :func:`sample_to_record` -> the results dict of
    docs/data_format.md section 4 (later records of the same image / pair /
    query replace earlier ones). GFN fields: ``scene_embedding`` and
    ``gfn_skipped`` of gallery images, ``gfn_score`` / ``gfn_skipped`` of
    pairs, and ``query_gfn`` = ``{ann_id: {'scene_embedding', 'gfn_query'}}``
    for the queries that carry them."""
    gallery, queries, pairs, query_gfn = {}, {}, {}, {}
    for r in records:
        kind = r['kind']
        if kind == 'query':
            queries[r['ann_id']] = r['embedding']
            extra = {k: r[k] for k in ('scene_embedding', 'gfn_query')
                     if k in r}
            if extra:
                query_gfn[r['ann_id']] = extra
            continue
        d = {'bboxes': r['bboxes'], 'scores': r['scores']}
        d.update({k: r[k] for k in _OPTIONAL[kind] if k in r})
        if kind == 'pair':
            pairs[(r['ann_id'], r['img_id'])] = d
        else:
            gallery[r['img_id']] = d
    out = {'gallery': gallery}
    if queries:
        out['queries'] = queries
    if query_gfn:
        out['query_gfn'] = query_gfn
    if pairs:
        out['pairs'] = pairs
    return out


_OPTIONAL = {'pair': ('sims', 'gfn_score', 'gfn_skipped'),
             'gallery': ('embeddings', 'scene_embedding', 'gfn_skipped')}


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
        raw = [_pair_key(k) for k in pairs.keys()]
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
