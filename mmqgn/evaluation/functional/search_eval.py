"""Vectorised person-search retrieval evaluation (legacy-exact).

Protocol (legacy OIM / NAE / SeqNet / SeqNeXt scripts; gfn_seqnext.md 5.5,
qgn_qeeps.md 10.4). For each query (person p, image I_q) and each entry g of
its expanded gallery, in order:

a. if p is among g's GT person ids: ``gt_count += 1`` (once per listed
   entry, also for a duplicated entry; legacy quirk);
b. skip g if it has no detection with ``score >= det_thresh``;
c. skip g if it was already processed for this query (after a.);
d. sims = query embedding . detection embeddings (or the pair's sims);
e. if p is in g: the FIRST GT box of p in g (file order) with the
   annotation's ``iou_thresh``; the detection with the highest sim among
   those with IoU >= iou_thresh is g's single true positive.

AP = average_precision(labels, sims) * count_tp / gt_count (0 when
count_tp == 0 or gt_count == 0, still counted in the mean); top-k = any
positive in the first k of all the query's detections ranked by sim. Ranking
is the stable descending order (ties: gallery order, then detection order),
the same in :mod:`.reference`.

``legacy=False`` (corrected): duplicate gallery entries count once; every
box of p in g is a GT (``gt_count`` counts boxes; detections are matched
greedily in sim order to the unmatched GT box of highest IoU among those with
IoU >= its threshold); queries with ``gt_count == 0`` are left out of the
means (``num_excluded``).

Implementation: the protocol-only parts are precomputed by
:class:`RetrievalSet`. Queries are processed in chunks (bounded number of
(query, detection) entries). The similarities of a chunk are laid out flat,
pair after pair, and computed either per gallery image for all the queries
that list it (pairs sorted by image, one small GEMM per image writing one
contiguous block; used when few of the (query, detection) products are
needed, e.g. CUHK G50-G2000) or with one GEMM against all gallery
detections (dense galleries, e.g. G4000, GFull, PRW). The true positive of
each positive pair is chosen with one lexsort. AP and the rank of the best
true positive only depend on the detections scoring at least the query's
lowest true positive: those are selected with one comparison, and for every
true positive the query's detections scoring at least as high are counted
(a segmented ``searchsorted`` on exact integer keys ``query << 32 |
order-preserving float bits``) without sorting the query's detections. The
ranking position of an entry within its query (gallery order, then
detection order) breaks exact ties like a stable sort would.
"""
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from .ap_utils import legacy_iou_matrix, legacy_iou_np, stable_desc_argsort
from .predictions import GalleryPredictions, PairPredictions, query_matrix

__all__ = ['SearchEvalResult', 'eval_search', 'prepare_sources',
           'greedy_match']


@dataclass
class SearchEvalResult:
    """Per-query outcome of a retrieval evaluation.

    Attributes:
        name: retrieval set name.
        ann_ids (Q,): query annotation ids.
        ap (Q,): AP of each query (already scaled by count_tp / gt_count).
        gt_count (Q,), count_tp (Q,): see the protocol.
        first_rank (Q,): 0-based rank of the best-ranked true positive among
            all the query's gallery detections, -1 when none.
        num_dets (Q,): number of gallery detections ranked for the query.
        valid (Q,): the query counts in the means (all in legacy mode).
        topk: the k of the top-k accuracies.
        legacy: protocol flavour.
    """
    name: str
    ann_ids: np.ndarray
    ap: np.ndarray
    gt_count: np.ndarray
    count_tp: np.ndarray
    first_rank: np.ndarray
    num_dets: np.ndarray
    valid: np.ndarray
    topk: tuple = (1, 5, 10)
    legacy: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def num_queries(self):
        return int(self.ap.size)

    @property
    def num_excluded(self):
        return int((~self.valid).sum())

    def hits(self, k):
        """(Q,) bool: a true positive is in the top k."""
        return (self.first_rank >= 0) & (self.first_rank < k)

    @property
    def mAP(self):
        return float(self.ap[self.valid].mean()) if self.valid.any() else 0.0

    def top(self, k):
        if not self.valid.any():
            return 0.0
        return float(self.hits(k)[self.valid].mean())

    def cmc(self, max_k):
        """Top-k accuracy for k = 1 .. max_k (array of max_k floats)."""
        r = self.first_rank[self.valid]
        if r.size == 0:
            return np.zeros(max_k)
        r = np.where(r < 0, np.iinfo(np.int64).max, r)
        ks = np.arange(1, max_k + 1)
        counts = np.searchsorted(np.sort(r), ks, side='left')
        return counts / r.size

    def summary(self):
        out = {'mAP': self.mAP}
        for k in self.topk:
            out[f'top{k}'] = self.top(k)
        out['num_queries'] = self.num_queries
        if not self.legacy:
            out['num_excluded'] = self.num_excluded
        return out

    def per_query(self):
        """List of per-query dicts (JSON-serialisable)."""
        rows = []
        for i in range(self.num_queries):
            row = {'ann_id': int(self.ann_ids[i]), 'ap': float(self.ap[i]),
                   'gt_count': int(self.gt_count[i]),
                   'count_tp': int(self.count_tp[i]),
                   'first_rank': int(self.first_rank[i]),
                   'num_dets': int(self.num_dets[i]),
                   'valid': bool(self.valid[i])}
            for k in self.topk:
                row[f'top{k}'] = bool(self.hits(k)[i])
            rows.append(row)
        return rows


def greedy_match(sims, det_boxes, gt_boxes, gt_thresh):
    """Corrected-mode matching of one gallery image (several GT boxes).

    Detections in stable descending sim order; each takes the unmatched GT
    with the highest IoU among those with IoU >= that GT's threshold (ties:
    the first GT). Returns the positions (into ``sims``) of the positives.
    """
    order = stable_desc_argsort(sims)
    iou = legacy_iou_matrix(det_boxes, gt_boxes)
    gt_thresh = np.asarray(gt_thresh, np.float64)
    free = np.ones(iou.shape[1], dtype=bool)
    pos = []
    for j in order.tolist():
        ok = (iou[j] >= gt_thresh) & free
        if ok.any():
            g = int(np.argmax(np.where(ok, iou[j], -1.0)))
            free[g] = False
            pos.append(j)
            if not free.any():
                break
    return np.array(sorted(pos), dtype=np.int64)


def prepare_sources(gallery=None, queries=None, pairs=None, anns=None,
                    det_thresh=0.5, det_score_source='cls'):
    """Wrap raw dicts into :class:`GalleryPredictions` /
    :class:`PairPredictions` (objects already wrapped pass through)."""
    if gallery is not None and not isinstance(gallery, GalleryPredictions):
        gallery = GalleryPredictions(gallery, anns, det_thresh)
    if pairs is not None and not isinstance(pairs, PairPredictions):
        pairs = PairPredictions(pairs, anns, det_thresh, det_score_source)
    return gallery, queries, pairs


def _sortable_u32(x):
    """Order-preserving map float32 -> uint32 (for exact integer keys):
    negative floats get all bits flipped, others the sign bit set."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    mask = (x.view(np.int32) >> 31).view(np.uint32) | np.uint32(0x80000000)
    return x.view(np.uint32) ^ mask


def _ap_and_rank(sims, ptr, q_of, qm_start, num_q, tp_ent, tp_rank):
    """Per-query sklearn AP (before the recall factor) and first TP rank.

    Args:
        sims (E,) float32 (no -0.0, no NaN): entries of a chunk, pair after
            pair (rank order); pair r owns entries ``ptr[r]:ptr[r + 1]``.
        q_of (R,): local query of pair r; qm_start (R,): position of the
            pair's first entry in the query-major layout (queries, then
            gallery order, then detection order), whose order within a query
            is the stable tie order.
        tp_ent (T,), tp_rank (T,): entry and pair rank of each true positive.

    Only entries scoring at least the query's lowest true positive matter
    (for AP: the entries at or above each TP; for the rank of the best TP:
    those at or above it), so they are selected first with one comparison;
    the rest works on that subset with exact integer keys
    ``query << 32 | order-preserving bits of the float``.
    """
    count_tp = np.bincount(q_of[tp_rank], minlength=num_q).astype(np.int64)
    ap = np.zeros(num_q, np.float64)
    first_rank = np.full(num_q, -1, np.int64)
    T = tp_ent.size
    if T == 0:
        return ap, first_rank, count_tp
    tq = q_of[tp_rank]
    ts = sims[tp_ent]
    tmin = np.full(num_q, np.inf, np.float32)
    np.minimum.at(tmin, tq, ts)
    cand = np.flatnonzero(sims >= np.repeat(tmin[q_of], np.diff(ptr)))
    r = np.searchsorted(ptr, cand, side='right') - 1
    cq = q_of[r]
    cpos = qm_start[r] + (cand - ptr[r])
    key = (cq.astype(np.uint64) << np.uint64(32)) | \
        _sortable_u32(sims[cand]).astype(np.uint64)
    tpos = qm_start[tp_rank] + (tp_ent - ptr[tp_rank])
    tk = (tq.astype(np.uint64) << np.uint64(32)) | \
        _sortable_u32(ts).astype(np.uint64)
    o = np.lexsort((tpos, tk))  # by key, ties by ranking position
    tks, tq, tpos = tk[o], tq[o], tpos[o]
    tp_end = np.cumsum(count_tp)
    # c: per candidate, number of TPs (all queries) with key <= its key;
    # shifted by the query index so that each query owns k_q + 1 slots
    c = np.searchsorted(tks, key, side='right')
    h = np.bincount(c + cq, minlength=T + num_q + 1)
    rg = np.concatenate([np.cumsum(h[::-1])[::-1], [0]])
    j = np.arange(T)
    n_ge = rg[j + tq + 1] - rg[tp_end[tq] + tq + 1]  # entries >= TP j
    first_same = np.searchsorted(tks, tks, side='left')
    tp_ge = tp_end[tq] - first_same  # TPs >= TP j (ties grouped)
    prec = tp_ge / n_ge
    has = count_tp > 0
    ap[has] = np.bincount(tq, weights=prec, minlength=num_q)[has] / \
        count_tp[has]
    # rank of the best TP: entries with a larger key, plus equal keys ranked
    # before the first TP holding the max key
    last = tp_end[has] - 1
    maxkey = np.full(num_q, np.iinfo(np.uint64).max, np.uint64)
    maxkey[has] = tks[last]
    firstpos = np.full(num_q, np.iinfo(np.int64).max, np.int64)
    firstpos[has] = tpos[first_same[last]]
    mk = maxkey[cq]
    above = np.bincount(cq[key > mk], minlength=num_q)
    ties = np.bincount(cq[(key == mk) & (cpos < firstpos[cq])],
                       minlength=num_q)
    first_rank[has] = (above + ties)[has]
    return ap, first_rank, count_tp


def eval_search(rset, gallery=None, queries=None, pairs=None, *,
                det_thresh=0.5, legacy=True, topk=(1, 5, 10),
                max_chunk_entries=4_000_000, dense_threshold=0.3,
                dense_max_elems=32_000_000, mode='auto', progress=None,
                backend='numpy', entry_weight=None, entry_drop=None,
                det_score_source='cls'):
    """Evaluate one retrieval set (fast, vectorised).

    Args:
        rset (RetrievalSet): the set (carries its annotations).
        gallery (dict | GalleryPredictions): gallery predictions; for the
            embedding form they need ``embeddings``.
        queries (dict): ``{ann_id: (D,) embedding}`` (embedding form).
        pairs (dict | PairPredictions): per-(ann_id, image_id) detections
            with ``sims`` (pair form).
        det_thresh (float): detections kept at ``score >= det_thresh``.
        legacy (bool): legacy quirks (default) or corrected protocol.
        topk (tuple[int]): k for the top-k accuracies.
        det_score_source (str): pair form, raw dict ``pairs``: the score the
            cut applies to, ``'cls'`` (default) or ``'sim'`` (D7,
            :func:`pair_cut_scores`).
        max_chunk_entries (int): (query, detection) entries per chunk
            (memory ~ 40 bytes each).
        dense_threshold (float): use one GEMM against all gallery detections
            when at least this fraction of the (query, detection) products
            is needed; otherwise one small GEMM per gallery image.
        dense_max_elems (int): cap on the (chunk queries x detections)
            matrix of the dense path.
        mode (str): 'auto' (pairs if given, else embeddings), 'embedding' or
            'pair'.
        progress (callable, optional): called with the number of queries done
            after each chunk.
        backend (str): library of the large GEMMs of the dense path:
            'numpy' (default), 'torch' (MKL; can be faster on an idle
            multi-core CPU) or 'auto' (torch when importable). The per-image
            small GEMMs of the sparse path and everything else are numpy.
        entry_weight (np.ndarray, optional): (G,) float factor per entry of
            the expanded galleries (``rset.gal_img_idx`` order) multiplying
            the similarities of that (query, gallery image) pair, e.g. the
            GFN score (gfn_seqnext.md §3.1, 5.5 d).
        entry_drop (np.ndarray, optional): (G,) bool; a dropped (query,
            gallery image) pair contributes no detection (GFN filtering),
            its GT still counts (step a).

    Returns:
        SearchEvalResult
    """
    anns = rset.anns
    rset.check_nonempty()
    gallery, queries, pairs = prepare_sources(gallery, queries, pairs, anns,
                                              det_thresh, det_score_source)
    if mode == 'auto':
        mode = 'pair' if pairs is not None else 'embedding'
    nq = len(rset)
    eq_all = rset.entry_query
    eimg = rset.gal_img_idx
    if legacy:
        gt_count = np.bincount(eq_all[rset.is_pos], minlength=nq)
    else:
        m = rset.is_pos & rset.is_first
        gt_count = np.bincount(eq_all[m], weights=rset.pos_count[m],
                               minlength=nq)
    gt_count = gt_count.astype(np.int64)

    qmat = None
    if mode == 'pair':
        if pairs is None:
            raise ValueError(f'retrieval set {rset.name}: pair-form '
                             'evaluation needs pair predictions')
        pidx = pairs.lookup(rset.query_ann_ids[eq_all], eimg)
        if (pidx < 0).any():
            k = int(np.flatnonzero(pidx < 0)[0])
            raise KeyError(
                f'retrieval set {rset.name}: no pair prediction for query '
                f'ann_id {int(rset.query_ann_ids[eq_all[k]])} and gallery '
                f'image id {int(anns.img_ids[eimg[k]])} '
                f'({int((pidx < 0).sum())} missing pairs)')
        src_n = pairs.n[pidx]
        src_start = pairs.ptr[pidx]
        boxes_src = pairs.boxes
        sims_src = pairs.sims
    elif mode == 'embedding':
        if gallery is None:
            raise ValueError(f'retrieval set {rset.name}: embedding-form '
                             'evaluation needs gallery predictions')
        miss = ~gallery.has_pred[eimg]
        if miss.any():
            k = int(np.flatnonzero(miss)[0])
            nmiss = np.unique(eimg[miss]).size
            raise KeyError(
                f'retrieval set {rset.name}: no gallery prediction for image '
                f'id {int(anns.img_ids[eimg[k]])} (gallery of query ann_id '
                f'{int(rset.query_ann_ids[eq_all[k]])}; {nmiss} images '
                'missing)')
        qmat = query_matrix(queries, rset)
        if gallery.num_dets and not gallery.has_embeddings:
            raise ValueError(f'retrieval set {rset.name}: gallery predictions '
                             'have no embeddings (needed with query '
                             'embeddings)')
        if gallery.num_dets and nq and qmat.shape[1] != gallery.dim:
            raise ValueError(f'retrieval set {rset.name}: query embedding '
                             f'dim {qmat.shape[1]} != gallery embedding dim '
                             f'{gallery.dim}')
        src_n = gallery.ndet[eimg]
        src_start = gallery.det_ptr[eimg]
        boxes_src = gallery.boxes
        sims_src = None
    else:
        raise ValueError(f'unknown mode {mode!r}')

    if entry_drop is not None:
        src_n = np.where(np.asarray(entry_drop, bool), 0, src_n)
    # processed (query, image) pairs: first listing, with detections
    sel = np.flatnonzero(rset.is_first & (src_n > 0))
    pweight = None if entry_weight is None else \
        np.asarray(entry_weight, np.float32)[sel]
    pq = eq_all[sel]
    pimg = eimg[sel]
    pn = src_n[sel]
    pstart = src_start[sel]
    ppos = rset.is_pos[sel]
    pfirst = rset.pos_first_ann[sel]
    pcount = rset.pos_count[sel]

    num_dets_q = np.bincount(pq, weights=pn, minlength=nq).astype(np.int64)
    total = int(num_dets_q.sum())
    dense = False
    if mode == 'embedding' and gallery.num_dets:
        dense = total >= dense_threshold * nq * gallery.num_dets
    torch = _get_torch(backend) if dense else None
    if dense:
        ecat = gallery.emb_cat()
        max_q = max(1, dense_max_elems // max(gallery.num_dets, 1))
    else:
        max_q = nq

    ap = np.zeros(nq, np.float64)
    count_tp = np.zeros(nq, np.int64)
    first_rank = np.full(nq, -1, np.int64)

    # chunks of consecutive queries
    qa = 0
    cum = np.concatenate([[0], np.cumsum(num_dets_q)])
    small_img = anns.num_images < 2**15
    while qa < nq:
        qb = int(np.searchsorted(cum, cum[qa] + max_chunk_entries, 'right'))
        qb = min(max(qb - 1, qa + 1), qa + max_q, nq)
        pa, pb = np.searchsorted(pq, [qa, qb])
        c = slice(pa, pb)
        n_c = pn[c]
        # query-major start of each pair: within a query, the order of
        # these positions (gallery order, then detection order) breaks ties
        qm_start = np.concatenate([[0], np.cumsum(n_c)[:-1]])
        # layout of the chunk's entries: pairs in rank order `perm`
        # (by image for the per-image GEMMs, else query-major)
        if mode == 'embedding' and not dense:
            key = pimg[c].astype(np.int16) if small_img else pimg[c]
            perm = np.argsort(key, kind='stable')  # radix sort for int16
        else:
            perm = np.arange(pb - pa)
        q_l = pq[c][perm] - qa
        n_l = n_c[perm]
        ptr_l = np.concatenate([[0], np.cumsum(n_l)])
        E = int(ptr_l[-1])
        start_l = pstart[c][perm]
        # --- similarities -------------------------------------------------
        if mode == 'pair' or dense:
            src_idx = np.repeat(start_l - ptr_l[:-1], n_l) + np.arange(E)
            if mode == 'pair':
                sims = sims_src[src_idx]
            else:
                sims = _dense_sims(qmat[qa:qb], ecat, np.repeat(q_l, n_l),
                                   src_idx, torch)
            del src_idx
        else:
            sims = _sparse_sims(qmat[qa:qb], gallery, pimg[c][perm], q_l,
                                ptr_l)
        sims = np.asarray(sims, np.float32)
        if pweight is not None:
            sims = sims * np.repeat(pweight[c][perm], n_l)
        sims += np.float32(0.0)  # -0.0 -> +0.0 (equal floats, equal keys)
        if E and np.isnan(sims.min()):
            raise ValueError(f'retrieval set {rset.name}: NaN similarity')
        # --- true positives ----------------------------------------------
        tp_ent, tp_rank = _assign_tps(
            sims, ptr_l, start_l, boxes_src, anns, ppos[c][perm],
            pfirst[c][perm], pcount[c][perm], rset.query_pids[pq[c][perm]],
            pimg[c][perm], legacy)
        # --- AP and ranks ----------------------------------------------------
        a, r, k = _ap_and_rank(sims, ptr_l, q_l, qm_start[perm], qb - qa,
                               tp_ent, tp_rank)
        ap[qa:qb] = a
        first_rank[qa:qb] = r
        count_tp[qa:qb] = k
        if progress is not None:
            progress(qb - qa)
        qa = qb

    good = (count_tp > 0) & (gt_count > 0)
    ap = np.where(good, ap * count_tp / np.maximum(gt_count, 1), 0.0)
    valid = np.ones(nq, bool) if legacy else gt_count > 0
    return SearchEvalResult(
        name=rset.name, ann_ids=rset.query_ann_ids.copy(), ap=ap,
        gt_count=gt_count, count_tp=count_tp, first_rank=first_rank,
        num_dets=num_dets_q, valid=valid, topk=tuple(topk), legacy=legacy,
        extra={'mode': mode, 'dense': dense})


def _get_torch(backend):
    """torch module for the GEMMs ('auto': when importable), else None."""
    if backend == 'numpy':
        return None
    try:
        import torch
    except ImportError:
        if backend == 'torch':
            raise
        return None
    return torch


@contextmanager
def _blas_single_thread():
    """Run numpy's small GEMMs single-threaded: multi-threaded BLAS on many
    tiny products is slower, and collapses when the cores are busy."""
    with threadpool_limits(1, user_api='blas'):
        yield


def _dense_sims(qc, ecat, eq, src_idx, torch=None):
    """Similarities of a chunk from one GEMM against all detections."""
    if torch is not None:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)  # read-only arrays
            s = (torch.from_numpy(qc) @ torch.from_numpy(ecat).T).numpy()
    else:
        s = qc @ ecat.T
    return s[eq, src_idx]


def _sparse_sims(qc, gallery, img, q, ptr):
    """Similarities of a chunk, one small GEMM per gallery image.

    The pairs come sorted by image (``img``, ``q``: image and local query of
    each pair; pair r owns entries ``ptr[r]:ptr[r + 1]``), so the products of
    image g with all the queries listing it form one contiguous block.
    (Python threads over images were tried: no gain, numpy keeps the GIL
    for most of these small operations.)
    """
    E = int(ptr[-1])
    buf = np.empty(E, np.float32)
    if E == 0:
        return buf
    bnd = np.flatnonzero(img[1:] != img[:-1]) + 1
    starts = np.concatenate([[0], bnd])
    ends = np.concatenate([bnd, [img.size]])
    q = np.ascontiguousarray(q, dtype=np.intp)
    emb_src, emb_keep = gallery.emb_src, gallery.emb_keep
    # numpy with single-threaded BLAS: per-call overhead matters more than
    # the GEMM speed for these tiny products (torch is slower here)
    with _blas_single_thread():
        for s, e, a, b, g in zip(starts.tolist(), ends.tolist(),
                                 ptr[starts].tolist(), ptr[ends].tolist(),
                                 img[starts].tolist()):
            eg, keep = emb_src[g], emb_keep[g]
            if keep is not None:
                eg = eg[keep]  # (cheaper than a GEMM on every row)
            # fancy indexing beats np.take here
            np.matmul(qc[q[s:e]], eg.T,
                      out=buf[a:b].reshape(e - s, eg.shape[0]))
    return buf


def _assign_tps(sims, ptr, pstart, boxes_src, anns, ppos, pfirst, pcount,
                ppid, pimg, legacy):
    """True positives of a chunk: (entry indices, pair ranks).

    Pair r owns entries ``ptr[r]:ptr[r + 1]``; entry ``ptr[r] + j`` is
    detection ``pstart[r] + j`` of ``boxes_src``.
    """
    P = np.flatnonzero(ppos)
    if P.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if legacy:
        single, multi = P, P[:0]
    else:
        single, multi = P[pcount[P] == 1], P[pcount[P] > 1]
    out, out_rank = [], []
    if single.size:
        ns = ptr[single + 1] - ptr[single]
        cs = np.concatenate([[0], np.cumsum(ns)])
        tot = int(cs[-1])
        within = np.arange(tot) - np.repeat(cs[:-1], ns)
        ent = np.repeat(ptr[single], ns) + within
        src = np.repeat(pstart[single], ns) + within
        grp = np.repeat(np.arange(single.size), ns)
        gt_ann = pfirst[single][grp]
        iou = legacy_iou_np(boxes_src[src], anns.ann_boxes[gt_ann])
        cand = np.flatnonzero(iou >= anns.ann_iou_thresh[gt_ann])
        if cand.size:
            ce, cg = ent[cand], grp[cand]
            o = np.lexsort((ce, -sims[ce], cg))
            cgo = cg[o]
            keep = np.ones(o.size, bool)
            keep[1:] = cgo[1:] != cgo[:-1]
            out.append(ce[o[keep]])
            out_rank.append(single[cgo[keep]])
    for p in multi.tolist():
        ents = np.arange(ptr[p], ptr[p + 1])
        gts = anns.person_boxes(int(ppid[p]), int(pimg[p]))
        src = pstart[p] + np.arange(ents.size)
        pos = greedy_match(sims[ents], boxes_src[src],
                           anns.ann_boxes[gts], anns.ann_iou_thresh[gts])
        out.append(ents[pos])
        out_rank.append(np.full(pos.size, p, np.int64))
    if not out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return (np.concatenate(out).astype(np.int64),
            np.concatenate(out_rank).astype(np.int64))
