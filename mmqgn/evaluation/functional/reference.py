"""Reference (loop) implementation of the person-search protocol.

Written like the legacy scripts (SeqNet / SeqNeXt ``eval_func.py``
``eval_search_cuhk`` / ``eval_search_prw`` and ``eval_detection``): a loop
over queries, over gallery images, over boxes. It is slow and meant as the
cross-check of the vectorised :mod:`.search_eval` and :mod:`.det_eval` in the
tests and the benchmark. Deliberate differences from the scripts (shared with
the fast implementation, see docs in :mod:`.search_eval`):

* ranking uses a stable descending sort (:func:`stable_desc_argsort`)
  instead of ``np.argsort(x)[::-1]`` (only matters for exact ties);
* IoU is computed in float64 (:func:`legacy_iou`), the per-box threshold is
  the annotation's precomputed ``iou_thresh``;
* a gallery image with detections but without GT boxes makes all its
  detections false positives in the detection metric (the scripts crash).
"""
import numpy as np

from mmqgn.structures import pair_cut_scores, to_numpy
from .ap_utils import average_precision, legacy_iou, stable_desc_argsort
from .search_eval import SearchEvalResult

__all__ = ['eval_search_reference', 'eval_detection_reference']


def eval_search_reference(rset, gallery=None, queries=None, pairs=None, *,
                          det_thresh=0.5, legacy=True, topk=(1, 5, 10),
                          mode='auto', query_subset=None,
                          det_score_source='cls'):
    """Loop implementation of :func:`eval_search` (same arguments, raw dicts).

    Args:
        query_subset (array-like, optional): evaluate only these query
            positions (for timing on a subset); the result then holds only
            those queries.
    """
    anns = rset.anns
    rset.check_nonempty()
    if mode == 'auto':
        mode = 'pair' if pairs is not None else 'embedding'

    # 1. index the gallery detections like the scripts (name_to_det_feat)
    name_to_det_feat = {}
    if mode == 'embedding':
        for img_id, det in gallery.items():
            scores = to_numpy(det['scores'], np.float32).ravel()
            inds = np.where(scores >= det_thresh)[0]
            if len(inds) > 0:
                boxes = to_numpy(det['bboxes'], np.float32).reshape(-1, 4)
                feats = to_numpy(det['embeddings'], np.float32)
                name_to_det_feat[int(img_id)] = (boxes[inds], feats[inds])

    # per image GT (person ids, annotation indices), like the scripts' annos
    img_gt = {}
    for img_idx in np.unique(rset.gal_img_idx).tolist():
        inds = anns.image_annotations(img_idx)
        img_gt[int(anns.img_ids[img_idx])] = (anns.ann_pids[inds], inds)

    q_range = range(len(rset)) if query_subset is None else \
        [int(i) for i in query_subset]
    aps, gt_counts, tp_counts, first_ranks, n_dets, valid = \
        [], [], [], [], [], []
    for i in q_range:
        ann_id = int(rset.query_ann_ids[i])
        pid = int(rset.query_pids[i])
        if mode == 'embedding':
            if queries is None or queries.get(ann_id) is None:
                raise KeyError(f'retrieval set {rset.name}: no query '
                               f'embedding for query ann_id {ann_id}')
            feat_q = to_numpy(queries[ann_id], np.float32).ravel()
        y_true, y_score = [], []
        count_gt, count_tp = 0, 0
        name2sim, name2det, name2gt = {}, {}, {}
        listed = set()
        # 2. go through the gallery of the query
        for gallery_imid in rset.gallery_image_ids(i).tolist():
            gt_pids, gt_inds = img_gt[gallery_imid]
            gt = gt_inds[gt_pids == pid]  # boxes of the person, file order
            if legacy:
                count_gt += len(gt) > 0  # before the skips below (quirk)
            else:
                if gallery_imid in listed:
                    continue
                listed.add(gallery_imid)
                count_gt += len(gt)
            if mode == 'pair':
                pred = pairs.get((ann_id, gallery_imid))
                if pred is None:
                    raise KeyError(f'retrieval set {rset.name}: no pair '
                                   f'prediction for query ann_id {ann_id} '
                                   f'and gallery image id {gallery_imid}')
                scores = to_numpy(pred['scores'], np.float32).ravel()
                sim = to_numpy(pred['sims'], np.float32).ravel()
                cut = pair_cut_scores(scores, sim, det_score_source)
                inds = np.where(cut >= det_thresh)[0]
                if len(inds) == 0:
                    continue
                det = to_numpy(pred['bboxes'], np.float32).reshape(-1, 4)
                det = det[inds]
                sim = sim[inds]
            else:
                if gallery_imid not in gallery:
                    raise KeyError(f'retrieval set {rset.name}: no gallery '
                                   f'prediction for image id {gallery_imid}')
                if gallery_imid not in name_to_det_feat:
                    continue  # no detection in this gallery image
                det, feat_g = name_to_det_feat[gallery_imid]
                sim = feat_g.dot(feat_q).ravel()
            if gallery_imid in name2sim:
                continue  # duplicated gallery entry (after count_gt)
            name2sim[gallery_imid] = sim
            name2det[gallery_imid] = det
            name2gt[gallery_imid] = gt
        for gallery_imid, sim in name2sim.items():
            det = name2det[gallery_imid]
            gt = name2gt[gallery_imid]
            label = np.zeros(len(sim), dtype=np.int32)
            if len(gt) > 0:
                inds = stable_desc_argsort(sim)
                sim = sim[inds]
                det = det[inds]
                if legacy:
                    # only the first GT box of the person, and only the
                    # first matching detection is a true positive
                    gt_box = anns.ann_boxes[gt[0]]
                    iou_thresh = anns.ann_iou_thresh[gt[0]]
                    for j, roi in enumerate(det[:, :4]):
                        if legacy_iou(roi, gt_box) >= iou_thresh:
                            label[j] = 1
                            count_tp += 1
                            break
                else:
                    matched = [False] * len(gt)
                    for j, roi in enumerate(det[:, :4]):
                        best, best_iou = -1, -1.0
                        for k, a in enumerate(gt):
                            if matched[k]:
                                continue
                            iou = legacy_iou(roi, anns.ann_boxes[a])
                            if iou >= anns.ann_iou_thresh[a] and \
                                    iou > best_iou:
                                best, best_iou = k, iou
                        if best >= 0:
                            matched[best] = True
                            label[j] = 1
                            count_tp += 1
            y_true.extend(list(label))
            y_score.extend(list(sim))
        # 3. AP of the query, scaled by the recall
        y_score = np.asarray(y_score, dtype=np.float32)
        y_true = np.asarray(y_true, dtype=np.int32)
        assert count_tp <= count_gt
        if count_tp == 0 or count_gt == 0:
            ap = 0.0
        else:
            ap = average_precision(y_true, y_score) * count_tp / count_gt
        inds = stable_desc_argsort(y_score)
        pos = np.flatnonzero(y_true[inds])
        aps.append(ap)
        gt_counts.append(count_gt)
        tp_counts.append(count_tp)
        first_ranks.append(int(pos[0]) if pos.size else -1)
        n_dets.append(len(y_score))
        valid.append(True if legacy else count_gt > 0)

    idx = np.array(list(q_range), dtype=np.int64)
    return SearchEvalResult(
        name=rset.name, ann_ids=rset.query_ann_ids[idx],
        ap=np.array(aps, np.float64), gt_count=np.array(gt_counts, np.int64),
        count_tp=np.array(tp_counts, np.int64),
        first_rank=np.array(first_ranks, np.int64),
        num_dets=np.array(n_dets, np.int64), valid=np.array(valid, bool),
        topk=tuple(topk), legacy=legacy, extra={'mode': mode})


def eval_detection_reference(anns, gallery, img_ids, det_thresh=0.5,
                             iou_thresh=0.5, labeled_only=False):
    """The scripts' ``eval_detection`` (loops), on the given image ids.

    Args:
        anns (PersonSearchAnnotations): ground truth.
        gallery (dict): ``{image_id: {'bboxes', 'scores', ...}}``.
        img_ids (iterable[int]): images to evaluate (each needs a
            prediction).
        labeled_only (bool): GT restricted to ``person_id >= 0``; images
            without labeled GT are skipped entirely.

    Returns:
        dict: ``ap``, ``recall``, ``num_gt``, ``num_tp``, ``num_det``,
        ``num_images``.
    """
    y_true, y_score = [], []
    count_gt, count_tp, n_img = 0, 0, 0
    for img_id in img_ids:
        img_id = int(img_id)
        img_idx = int(anns.img_index([img_id])[0])
        inds = anns.image_annotations(img_idx)
        if labeled_only:
            inds = inds[anns.ann_pids[inds] >= 0]
            if len(inds) == 0:
                continue
        gt_boxes = anns.ann_boxes[inds]
        num_gt = gt_boxes.shape[0]
        n_img += 1
        det = gallery[img_id]
        boxes = to_numpy(det['bboxes'], np.float32).reshape(-1, 4)
        scores = to_numpy(det['scores'], np.float32).ravel()
        keep = np.where(scores >= det_thresh)[0]
        boxes, scores = boxes[keep], scores[keep]
        num_det = boxes.shape[0]
        if num_det == 0:
            count_gt += num_gt
            continue
        ious = np.zeros((num_gt, num_det), dtype=np.float32)
        for i in range(num_gt):
            for j in range(num_det):
                ious[i, j] = legacy_iou(gt_boxes[i], boxes[j])
        tfmat = ious >= iou_thresh
        if num_gt > 0:
            # for each det, keep only the largest iou of all the gt
            for j in range(num_det):
                largest_ind = np.argmax(ious[:, j])
                for i in range(num_gt):
                    if i != largest_ind:
                        tfmat[i, j] = False
            # for each gt, keep only the largest iou of all the det
            for i in range(num_gt):
                largest_ind = np.argmax(ious[i, :])
                for j in range(num_det):
                    if j != largest_ind:
                        tfmat[i, j] = False
        for j in range(num_det):
            y_score.append(scores[j])
            y_true.append(tfmat[:, j].any())
        count_tp += int(tfmat.sum())
        count_gt += num_gt
    recall = count_tp * 1.0 / count_gt if count_gt else 0.0
    ap = average_precision(np.array(y_true, dtype=np.int32),
                           np.array(y_score, dtype=np.float32)) * recall \
        if y_true else 0.0
    return {'ap': float(ap), 'recall': float(recall), 'num_gt': count_gt,
            'num_tp': count_tp, 'num_det': len(y_score), 'num_images': n_img}
