"""Average precision and the legacy IoU, in plain numpy.

Both are written to reproduce the numbers of the legacy person-search
scripts (OIM ``psdb.py``, NAE / SeqNet / SeqNeXt ``eval_func.py``):

* :func:`average_precision` is scikit-learn's ``average_precision_score`` for
  binary labels (step-wise integral of the precision-recall curve, tied scores
  grouped into one threshold), re-implemented with the same operations so that
  results agree with sklearn to the last bit in practice (the tests check it
  when sklearn is importable).
* :func:`legacy_iou` / :func:`legacy_iou_np` are the scripts' ``_compute_iou``
  (boxes ``x1, y1, x2, y2``, no ``+1`` on widths), computed in float64.
"""
import numpy as np

__all__ = ['average_precision', 'legacy_iou', 'legacy_iou_np',
           'legacy_iou_matrix', 'stable_desc_argsort']


def stable_desc_argsort(scores):
    """Indices sorting ``scores`` descending, ties kept in input order.

    This is THE ordering used everywhere in the evaluator (ranking of the
    detections inside a gallery image, ranking of all of a query's gallery
    detections for top-k and CMC). The legacy scripts use
    ``np.argsort(x)[::-1]`` which orders exact ties arbitrarily (reversed
    quicksort order); a stable order is used instead so that the fast and the
    reference implementations agree even on ties.
    """
    scores = np.asarray(scores)
    return np.argsort(-scores, kind='stable')


def average_precision(y_true, y_score):
    """sklearn ``average_precision_score(y_true, y_score)`` for binary labels.

    AP = sum over distinct score thresholds t (descending) of
    ``(R(t) - R(t_prev)) * P(t)`` where P and R are computed over all samples
    with score >= t (ties grouped). Returns 0.0 when there is no positive
    label (sklearn would warn; the person-search scripts never call it then).

    Args:
        y_true (array-like): labels, positive iff ``== 1`` (or True).
        y_score (array-like): scores, same length.

    Returns:
        float
    """
    y_true = np.asarray(y_true).ravel()
    y_score = np.asarray(y_score).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError(f'y_true and y_score differ in length: '
                         f'{y_true.shape} vs {y_score.shape}')
    y_true = (y_true == 1)
    if y_true.size == 0 or not y_true.any():
        return 0.0
    # same steps as sklearn.metrics._ranking (binary case, no weights)
    order = np.argsort(-y_score, kind='stable')
    y_score = y_score[order]
    y_true = y_true[order].astype(np.float64)
    distinct = np.nonzero(np.diff(y_score))[0]
    threshold_idxs = np.concatenate([distinct, [y_true.size - 1]])
    tps = np.cumsum(y_true, dtype=np.float64)[threshold_idxs]
    fps = 1 + threshold_idxs.astype(np.float64) - tps
    ps = tps + fps
    precision = np.where(ps != 0, tps / np.where(ps != 0, ps, 1), 0.0)
    recall = tps / tps[-1]
    precision = np.concatenate([precision[::-1], [1.0]])
    recall = np.concatenate([recall[::-1], [0.0]])
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def legacy_iou(a, b):
    """The scripts' ``_compute_iou`` for two boxes ``(x1, y1, x2, y2)``.

    Computed on Python floats (float64). A degenerate union (<= 0) gives 0
    (the scripts would raise ZeroDivisionError).
    """
    a = [float(v) for v in a[:4]]
    b = [float(v) for v in b[:4]]
    x1 = max(a[0], b[0])
    y1 = max(a[1], b[1])
    x2 = min(a[2], b[2])
    y2 = min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) \
        - inter
    if union <= 0:
        return 0.0
    return inter * 1.0 / union


def legacy_iou_np(a, b):
    """Element-wise :func:`legacy_iou` of ``a`` (N, 4) and ``b`` (N, 4).

    Broadcasting works (e.g. ``a[:, None]`` against ``b[None]``). Same
    float64 operations in the same order as :func:`legacy_iou`, so the two
    give bit-identical values.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x1 = np.maximum(a[..., 0], b[..., 0])
    y1 = np.maximum(a[..., 1], b[..., 1])
    x2 = np.minimum(a[..., 2], b[..., 2])
    y2 = np.minimum(a[..., 3], b[..., 3])
    inter = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) +
             (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    ok = union > 0
    return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def legacy_iou_matrix(a, b):
    """(N, M) :func:`legacy_iou` matrix of ``a`` (N, 4) and ``b`` (M, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return legacy_iou_np(a[:, None, :], b[None, :, :])
