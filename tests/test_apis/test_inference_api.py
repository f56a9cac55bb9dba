"""mmqgn.apis on a random-init tiny OIM: shapes, conventions and errors.

With random weights the similarities carry no meaning, so the ranking tests
check what must hold for any weights: ordering, consistency with the
embeddings of ``extract_query`` / ``detect_persons``, and (with the query
box injected among the detections of its own image) that the very same box
in the very same image is found first with similarity 1.
"""
import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from mmqgn.apis import (SearchInputError, detect_persons, extract_query,
                        search)


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) -
             ix * iy)
    return ix * iy / union


def test_extract_query_unit_norm_path_equals_array(tiny_searcher, scenes):
    path, boxes = scenes[0]
    emb = extract_query(tiny_searcher, path, boxes[0])
    dim = tiny_searcher.roi_head.reid_head.embed_dim
    assert emb.shape == (dim, )
    assert torch.linalg.norm(emb).item() == pytest.approx(1.0, abs=1e-5)
    emb_array = extract_query(tiny_searcher, mmcv.imread(path), boxes[0])
    torch.testing.assert_close(emb, emb_array)
    other = extract_query(tiny_searcher, path, boxes[-1])
    assert len(boxes) == 1 or not torch.allclose(emb, other)


def test_detect_persons_boxes_in_original_pixels(tiny_searcher, scenes):
    path = scenes[0][0]
    img = mmcv.imread(path)
    # an image of another size: a different resize factor in the pipeline
    big = mmcv.imrescale(img, 1.7)
    results = detect_persons(tiny_searcher, [path, big])
    single = detect_persons(tiny_searcher, path)
    torch.testing.assert_close(single.bboxes, results[0].bboxes)
    dim = tiny_searcher.roi_head.reid_head.embed_dim
    for res, (h, w) in zip(results, (img.shape[:2], big.shape[:2])):
        n = len(res)
        assert n > 0
        assert res.bboxes.shape == (n, 4) and res.scores.shape == (n, )
        assert res.embeddings.shape == (n, dim)
        boxes = res.bboxes
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] >= boxes[:, 0]).all()
        assert (boxes[:, 3] >= boxes[:, 1]).all()
        torch.testing.assert_close(
            res.embeddings.norm(dim=1), torch.ones(n), atol=1e-5, rtol=0)


def test_search_ranking_is_consistent(tiny_searcher, scenes):
    (qpath, qboxes), (p1, _), (p2, _) = scenes[:3]
    gallery = [p1, mmcv.imread(p2)]
    matches = search(tiny_searcher, qpath, qboxes[0], gallery,
                     progress=False)
    sims = [m.similarity for m in matches]
    assert sims == sorted(sims, reverse=True)
    dets = detect_persons(tiny_searcher, gallery)
    assert len(matches) == sum(len(d) for d in dets)
    query = extract_query(tiny_searcher, qpath, qboxes[0])
    for m in matches[:5] + matches[-5:]:
        det = dets[m.gallery_idx]
        i = int(torch.argmin((det.bboxes - torch.from_numpy(m.bbox)).abs()
                             .sum(1)))
        np.testing.assert_allclose(det.bboxes[i].numpy(), m.bbox)
        assert m.score == pytest.approx(det.scores[i].item())
        assert m.similarity == pytest.approx(
            (det.embeddings[i] @ query).item(), abs=1e-5)

    first = [m for m in matches if m.gallery_idx == 0]
    top3 = search(tiny_searcher, qpath, qboxes[0], [p1], topk=3,
                  progress=False)
    assert [m.similarity for m in top3] == [m.similarity for m in first[:3]]
    thr = float(np.median([m.score for m in first]))
    kept = search(tiny_searcher, qpath, qboxes[0], [p1], score_thr=thr,
                  progress=False)
    assert kept and all(m.score >= thr for m in kept)
    assert len(kept) == sum(m.score >= thr for m in first)


def test_search_finds_the_query_box_in_its_own_image(tiny_searcher, scenes,
                                                     monkeypatch):
    """Put the query box among the detections of the query image (in
    resized-image pixels, as the RoI head produces them): the search must
    return it first, in original pixels, with similarity 1."""
    (qpath, qboxes), (p1, _), (p2, _) = scenes[:3]
    qbox = qboxes[0]
    predict_bbox = tiny_searcher.roi_head.predict_bbox

    def with_query_box(x, img_metas, proposals, cfg, rescale=False):
        results = predict_bbox(x, img_metas, proposals, cfg, rescale=rescale)
        for i, meta in enumerate(img_metas):
            if meta['is_query'] or meta['img_path'] != qpath:
                continue
            sx, sy = meta['scale_factor']
            res = results[i]
            box = InstanceData(
                bboxes=res.bboxes.new_tensor([[
                    qbox[0] * sx, qbox[1] * sy, qbox[2] * sx, qbox[3] * sy
                ]]),
                scores=res.scores.new_ones(1),
                labels=res.labels.new_zeros(1))
            results[i] = InstanceData.cat([res, box])
        return results

    monkeypatch.setattr(tiny_searcher.roi_head, 'predict_bbox',
                        with_query_box)
    matches = search(tiny_searcher, qpath, qbox, [p1, qpath, p2], topk=3,
                     progress=False)
    top = matches[0]
    assert top.gallery_idx == 1
    assert top.similarity == pytest.approx(1.0, abs=1e-4)
    assert _iou(top.bbox, qbox) > 0.5
    injected = [m for m in matches if m.score == 1.0]
    assert injected, 'the injected query box is not among the top 3'
    np.testing.assert_allclose(injected[0].bbox, qbox, atol=1e-3)
    assert injected[0].similarity == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize('box, problem', [
    ([10, 10, 1000, 50], 'outside the image'),
    ([-5, 10, 40, 60], 'outside the image'),
    ([40, 10, 40, 60], 'non-positive size'),
    ([40, 60, 80, 20], 'non-positive size'),
])
def test_bad_query_box(tiny_searcher, scenes, box, problem):
    path = scenes[0][0]
    with pytest.raises(SearchInputError) as err:
        extract_query(tiny_searcher, path, box)
    assert problem in str(err.value) and path in str(err.value)
    assert str(box[2]) in str(err.value)
    with pytest.raises(SearchInputError, match=problem):
        search(tiny_searcher, mmcv.imread(path), box, [path],
               progress=False)


def test_empty_gallery(tiny_searcher, scenes):
    path, boxes = scenes[0]
    for gallery in ([], iter([])):
        with pytest.raises(SearchInputError, match='gallery is empty'):
            search(tiny_searcher, path, boxes[0], gallery, progress=False)


def test_unreadable_images_are_named(tiny_searcher, scenes, tmp_path):
    path, boxes = scenes[0]
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'this is not a jpeg')
    missing = str(tmp_path / 'missing.jpg')
    for bad in (str(corrupt), missing):
        with pytest.raises(SearchInputError, match='cannot read image') as e:
            extract_query(tiny_searcher, bad, boxes[0])
        assert bad in str(e.value)
        with pytest.raises(SearchInputError) as e:
            search(tiny_searcher, path, boxes[0], [path, bad],
                   progress=False)
        assert bad in str(e.value)
    with pytest.raises(SearchInputError, match='BGR image array'):
        detect_persons(tiny_searcher, np.zeros((4, 4, 2), np.uint8))
