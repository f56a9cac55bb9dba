"""Gallery Filter Network metrics (gfn_seqnext.md §3.1, §3.7, §5.6; §8.1
decisions 3 and 26). Pure numpy.

Per retrieval set, from a GFN score per (query, gallery entry):

* scene retrieval by GFN score alone: per query, sklearn AP of "gallery
  image g holds the query person" (``RetrievalSet.is_pos``; 0 without a
  positive) and top-1 = the best-scoring image holds the person;
* the threshold keeping ``recall`` (99%) of the positive scenes over the
  set's pooled pairs and the fraction of negative scenes below it (NPV);
* person search with the similarities weighted by the GFN score
  (``gfn_*``), and weighted + filtered (``filtered_*``: pairs below the
  threshold contribute no detections), with the share of skipped pairs.

Scores come either from query codes (embedding form: ``gfn_query`` of each
query and ``scene_embedding`` of each gallery image, see
:func:`score_from_code`) or from the ``gfn_score`` of every pair (pair
form, query-guided models).
"""
import numpy as np

from mmqgn.structures import to_numpy
from .ap_utils import average_precision
from .gfn_code import code_size, split_code

__all__ = ['score_from_code', 'calibrate_gfn_threshold',
           'gfn_negative_filtered', 'scene_retrieval', 'entry_gfn_scores',
           'has_gfn', 'eval_gfn_set']


def score_from_code(code, gallery):
    """GFN scores (Q, G) = ``sigmoid(cos / alpha)`` of query codes
    (Q, 3D + 3) (``GalleryFilterNetwork.query_code``; layout in
    :mod:`.gfn_code`) against gallery scene embeddings (G, D):
    ``cos = (u . y + k0) / sqrt(v2 . y^2 + v1 . y + v0)``, y = unit scene."""
    code = np.atleast_2d(np.asarray(code, np.float32))
    y = np.asarray(gallery, np.float32)
    y = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
    if code.shape[1] != code_size(y.shape[1]):
        raise ValueError(f'GFN query code of size {code.shape[1]} does not '
                         f'match scene embeddings of dim {y.shape[1]} '
                         '(expected 3 D + 3)')
    c = split_code(code)
    den = c['v2'] @ (y * y).T + c['v1'] @ y.T + c['v0']
    cos = (c['u'] @ y.T + c['k0']) / np.sqrt(np.maximum(den, 1e-12))
    return 1.0 / (1.0 + np.exp(-cos / c['alpha']))


def calibrate_gfn_threshold(scores, positive, recall=0.99):
    """GFN threshold keeping ``recall`` of the positive pairs (§3.7): the
    positive scores sorted descending, the one at index
    ``floor(recall * n_pos)`` clipped to ``n_pos - 1``. Calibrate on the val
    partition; on the evaluated set itself it is an oracle. 0.0 (keeps every
    scene, GFN scores are > 0) when there is no positive pair.

    Args:
        scores (array): pooled (query, scene) GFN scores.
        positive (array): bool, the scene holds the query person.
    """
    scores = np.asarray(scores, np.float64).ravel()
    positive = np.asarray(positive, bool).ravel()
    pos = np.sort(scores[positive])[::-1]
    if pos.size == 0:
        return 0.0
    return float(pos[min(int(np.floor(recall * pos.size)), pos.size - 1)])


def gfn_negative_filtered(scores, positive, thr):
    """Fraction of negative pairs scoring below ``thr`` (§3.7 NPV metric);
    0.0 without negatives."""
    scores = np.asarray(scores, np.float64).ravel()
    neg = ~np.asarray(positive, bool).ravel()
    return float((scores[neg] < thr).mean()) if neg.any() else 0.0


def scene_retrieval(rset, scores, entries=None):
    """GFN-only scene retrieval (§5.6): per-query AP (Q,) and top-1 (Q,)
    bool over the query's gallery entries ranked by ``scores`` (G,) (ties:
    gallery order). ``entries`` (G,) bool restricts the entries."""
    scores = np.asarray(scores, np.float64)
    ptr = rset.gal_ptr
    ap = np.zeros(len(rset), np.float64)
    top1 = np.zeros(len(rset), bool)
    for q in range(len(rset)):
        sl = slice(ptr[q], ptr[q + 1])
        s, pos = scores[sl], rset.is_pos[sl]
        if entries is not None:
            s, pos = s[entries[sl]], pos[entries[sl]]
        if s.size:
            ap[q] = average_precision(pos, s)
            top1[q] = bool(pos[np.argmax(s)])
    return ap, top1


def _scene_matrix(gallery_raw, anns, img_idx, set_name):
    """(U, D) scene embeddings of the images ``img_idx`` (unique)."""
    rows = []
    for i in img_idx.tolist():
        img_id = int(anns.img_ids[i])
        pred = gallery_raw.get(img_id)
        emb = None if pred is None else pred.get('scene_embedding')
        if emb is None:
            raise KeyError(f'retrieval set {set_name}: gallery image id '
                           f'{img_id} has no scene_embedding (needed for '
                           'the GFN metrics)')
        rows.append(to_numpy(emb, np.float32).reshape(-1))
    return np.stack(rows) if rows else np.zeros((0, 0), np.float32)


def entry_gfn_scores(rset, gallery_raw=None, query_gfn=None, pairs=None,
                     max_elems=8_000_000):
    """GFN score (G,) and skipped flag (G,) of every gallery entry.

    Embedding form: ``query_gfn`` ``{ann_id: {'gfn_query', ...}}`` and the
    ``scene_embedding`` of each image of ``gallery_raw`` (nothing skipped).
    Pair form: ``pairs`` (:class:`PairPredictions`) ``gfn_score`` /
    ``gfn_skipped``. Errors name the set and the missing query / image.
    """
    eq, eimg = rset.entry_query, rset.gal_img_idx
    if pairs is not None:
        pidx = pairs.lookup(rset.query_ann_ids[eq], eimg)
        score = np.where(pidx >= 0, pairs.gfn_score[pidx], np.nan)
        if np.isnan(score).any():
            k = int(np.flatnonzero(np.isnan(score))[0])
            raise KeyError(
                f'retrieval set {rset.name}: no gfn_score for the pair of '
                f'query ann_id {int(rset.query_ann_ids[eq[k]])} and gallery '
                f'image id {int(rset.anns.img_ids[eimg[k]])}')
        return score, pairs.gfn_skipped[pidx] & (pidx >= 0)
    codes = []
    for ann_id in rset.query_ann_ids.tolist():
        rec = (query_gfn or {}).get(ann_id)
        if rec is None or rec.get('gfn_query') is None:
            raise KeyError(f'retrieval set {rset.name}: query ann_id '
                           f'{ann_id} has no gfn_query (needed for the GFN '
                           'metrics)')
        codes.append(to_numpy(rec['gfn_query'], np.float32).reshape(-1))
    used, col = np.unique(eimg, return_inverse=True)
    scenes = _scene_matrix(gallery_raw, rset.anns, used, rset.name)
    score = np.empty(eimg.size, np.float64)
    step = max(1, max_elems // max(used.size, 1))
    for qa in range(0, len(rset), step):
        qb = min(qa + step, len(rset))
        s = score_from_code(np.stack(codes[qa:qb]), scenes)
        a, b = rset.gal_ptr[qa], rset.gal_ptr[qb]
        score[a:b] = s[eq[a:b] - qa, col[a:b]]
    return score, np.zeros(eimg.size, bool)


def has_gfn(results):
    """The results carry GFN outputs: ``query_gfn`` codes (embedding form)
    or a ``gfn_score`` on the pairs (pair form)."""
    pairs = results.get('pairs')
    if pairs:
        return any('gfn_score' in p for p in pairs.values())
    return bool(results.get('query_gfn'))


def eval_gfn_set(rset, score, skipped, search, *, thr=None, recall=0.99,
                 legacy=True, topk=(1, ), logger_fn=None):
    """GFN metrics of one retrieval set (keys without the set prefix).

    Args:
        score (G,), skipped (G,): per gallery entry, from
            :func:`entry_gfn_scores`.
        search (callable): ``search(entry_weight=..., entry_drop=...)`` ->
            :class:`SearchEvalResult` (``eval_search`` on this set).
        thr (float, optional): filter threshold; None = the set's own
            ``recall`` threshold (oracle, §3.7).
        legacy (bool): scene metrics over every listed entry (legacy) or
            over first listings only.
        logger_fn (callable, optional): ``logger_fn(msg)`` for notes.
    """
    entries = None if legacy else rset.is_first
    sel = slice(None) if entries is None else entries
    ap, top1 = scene_retrieval(rset, score, entries)
    pos = rset.is_pos[sel]
    cal = calibrate_gfn_threshold(score[sel], pos, recall)
    tag = f'{100 * recall:g}'.replace('.', '_')
    out = {'scene_mAP': float(ap.mean()) if ap.size else 0.0,
           'scene_top1': float(top1.mean()) if top1.size else 0.0,
           f'scene_thr{tag}': cal,
           f'scene_npv{tag}': gfn_negative_filtered(score[sel], pos, cal)}
    if thr is None:
        thr = cal
        if logger_fn is not None:
            logger_fn(f'{rset.name}: GFN filtering at the set\'s own '
                      f'{tag}%-recall threshold {thr:.4f} (oracle; pass '
                      'gfn_thr calibrated on val for an honest number)')
    weight = score.astype(np.float32)
    drop = skipped | (score < thr)
    for name, res in (('gfn', search(entry_weight=weight,
                                     entry_drop=skipped)),
                      ('filtered', search(entry_weight=weight,
                                          entry_drop=drop))):
        out[f'{name}_mAP'] = res.mAP
        for k in topk:
            out[f'{name}_top{k}'] = res.top(k)
    first = rset.is_first
    out['filter_thr'] = float(thr)
    out['skipped'] = float(drop[first].mean()) if first.any() else 0.0
    return out
