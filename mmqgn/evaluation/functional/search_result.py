"""Result container and corrected-mode matching of the retrieval evaluation.

:class:`SearchEvalResult` holds the per-query outcome of
:func:`~.search_eval.eval_search` and :func:`~.reference.eval_search_reference`
(mAP, top-k, CMC); :func:`greedy_match` is the corrected protocol's
(``legacy=False``) matching of several GT boxes in one gallery image
(protocol: :mod:`.search_eval`).
"""
from dataclasses import dataclass, field

import numpy as np

from .ap_utils import legacy_iou_matrix, stable_desc_argsort

__all__ = ['SearchEvalResult', 'greedy_match']


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
