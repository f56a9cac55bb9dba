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
import numpy as np

from .predictions import GalleryPredictions, PairPredictions, query_matrix
from .search_kernels import (_ap_and_rank, _assign_tps, _dense_sims,
                             _get_torch, _sparse_sims)
from .search_result import SearchEvalResult, greedy_match

__all__ = ['SearchEvalResult', 'eval_search', 'prepare_sources',
           'greedy_match']


def prepare_sources(gallery=None, queries=None, pairs=None, anns=None,
                    det_thresh=0.5, det_score_source='cls'):
    """Wrap raw dicts into :class:`GalleryPredictions` /
    :class:`PairPredictions` (objects already wrapped pass through)."""
    if gallery is not None and not isinstance(gallery, GalleryPredictions):
        gallery = GalleryPredictions(gallery, anns, det_thresh)
    if pairs is not None and not isinstance(pairs, PairPredictions):
        pairs = PairPredictions(pairs, anns, det_thresh, det_score_source)
    return gallery, queries, pairs


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
