"""Detection metric of the person-search scripts (``eval_detection``).

Detections with ``score >= det_thresh``; IoU (float32, like the scripts)
``>= iou_thresh`` (0.5) is a candidate match; for each detection only its
argmax GT is kept, for each GT only its argmax detection; the surviving pairs
are matches. recall = matched GT / all GT; AP = average_precision(matched
flag of every detection pooled over images, scores) * recall.
``labeled_only``: GT restricted to ``person_id >= 0`` and images without a
labeled GT are skipped entirely (their detections are not counted either).
A gallery image with detections but no GT makes them false positives (the
scripts would crash). Vectorised per image; loop version in
:mod:`.reference`.
"""
import numpy as np

from .ap_utils import average_precision, legacy_iou_matrix
from .predictions import GalleryPredictions

__all__ = ['eval_detection']


def eval_detection(anns, gallery, img_indices=None, det_thresh=0.5,
                   iou_thresh=0.5, labeled_only=False):
    """Detection AP and recall on a set of images.

    Args:
        anns (PersonSearchAnnotations): ground truth.
        gallery (dict | GalleryPredictions): gallery predictions.
        img_indices (array-like, optional): image indices (into
            ``anns.img_ids``) to evaluate; default: every image with a
            prediction.
        det_thresh (float), iou_thresh (float): thresholds.
        labeled_only (bool): see module doc.

    Returns:
        dict: ``ap``, ``recall``, ``num_gt``, ``num_tp``, ``num_det``,
        ``num_images``.
    """
    if not isinstance(gallery, GalleryPredictions):
        gallery = GalleryPredictions(gallery, anns, det_thresh)
    elif det_thresh < gallery.det_thresh:
        raise ValueError('gallery predictions were filtered at '
                         f'{gallery.det_thresh} > det_thresh {det_thresh}')
    if img_indices is None:
        img_indices = np.flatnonzero(gallery.has_pred)
    img_indices = np.asarray(img_indices, np.int64)
    miss = ~gallery.has_pred[img_indices]
    if miss.any():
        raise KeyError('detection metric: no gallery prediction for image id '
                       f'{int(anns.img_ids[img_indices[miss][0]])} '
                       f'({int(miss.sum())} images missing)')
    flags, scores = [], []
    count_gt = count_tp = n_img = 0
    for img in img_indices.tolist():
        inds = anns.image_annotations(img)
        if labeled_only:
            inds = inds[anns.ann_pids[inds] >= 0]
            if inds.size == 0:
                continue
        n_img += 1
        num_gt = int(inds.size)
        a, b = gallery.det_ptr[img], gallery.det_ptr[img + 1]
        sc = gallery.scores[a:b]
        keep = sc >= det_thresh
        sc = sc[keep]
        num_det = int(sc.size)
        if num_det == 0:
            count_gt += num_gt
            continue
        if num_gt == 0:
            flags.append(np.zeros(num_det, bool))
            scores.append(sc)
            continue
        ious = legacy_iou_matrix(anns.ann_boxes[inds],
                                 gallery.boxes[a:b][keep]).astype(np.float32)
        tf = ious >= iou_thresh
        best_gt = np.argmax(ious, axis=0)  # per detection
        tf &= np.arange(num_gt)[:, None] == best_gt[None, :]
        best_det = np.argmax(ious, axis=1)  # per GT
        tf &= np.arange(num_det)[None, :] == best_det[:, None]
        flags.append(tf.any(axis=0))
        scores.append(sc)
        count_tp += int(tf.sum())
        count_gt += num_gt
    recall = count_tp / count_gt if count_gt else 0.0
    if flags:
        y_true = np.concatenate(flags).astype(np.int32)
        y_score = np.concatenate(scores)
        ap = average_precision(y_true, y_score) * recall
    else:
        y_true = np.zeros(0)
        ap = 0.0
    return {'ap': float(ap), 'recall': float(recall), 'num_gt': count_gt,
            'num_tp': count_tp, 'num_det': int(y_true.size),
            'num_images': n_img}
