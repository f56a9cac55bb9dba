"""Chunk kernels of :func:`~.search_eval.eval_search` (numpy only).

Similarities of a chunk (one GEMM against all gallery detections,
:func:`_dense_sims`, or one small GEMM per gallery image,
:func:`_sparse_sims`), the true positive of each positive pair
(:func:`_assign_tps`, one lexsort) and per-query AP / rank of the best true
positive on exact integer keys (:func:`_ap_and_rank`, :func:`_sortable_u32`).
Entries of a chunk are laid out flat, pair after pair: pair r owns entries
``ptr[r]:ptr[r + 1]``. The layout and the protocol are described in
:mod:`.search_eval`.
"""
import warnings
from contextlib import contextmanager

import numpy as np
from threadpoolctl import threadpool_limits

from .ap_utils import legacy_iou_np
from .search_result import greedy_match


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
