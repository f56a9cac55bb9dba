"""Synthetic person-search problems (annotations, retrieval sets, results).

Used by the tests (small, optionally with quantised features so that every
dot product is exact and ties are frequent) and by
``benchmarks/bench_person_search_metric.py`` (full CUHK-SYSU scale). Numpy
only. The predictions are "realistic" in the sense the benchmark needs: most
GT boxes get a detection near them, scored >= 0.5, whose embedding is close
to the person's identity vector (so the query finds its person), plus
background detections with random boxes, scores and embeddings.
"""
import numpy as np

__all__ = ['make_search_problem']


def _normalize_rows(x):
    n = np.sqrt(np.einsum('ij,ij->i', x, x))
    n[n == 0] = 1
    x /= n[:, None]
    return x


def make_search_problem(n_images=200, n_persons=60, n_queries=None,
                        boxes_per_image=(2, 8), appearances=(2, 4),
                        dets_per_image=15, dim=64, gallery_sizes=(20, ),
                        shared_sets=(), seed=0, quantize=False,
                        quirks=True, img_size=(800, 600), noise=0.8,
                        detect_prob=0.96, small_box_prob=0.05,
                        query_embeddings=True, pairs=False):
    """Build a random person-search problem.

    Args:
        n_images, n_persons: numbers of images and labeled identities.
        n_queries: queries (one per identity, the first box); default all.
        boxes_per_image: (min, max) GT boxes per image.
        appearances: (min, max) images per labeled identity.
        dets_per_image: detections per image (GT-matched + background).
        dim: embedding size.
        gallery_sizes: per-query gallery sets ``G<n>`` (CUHK style: the other
            images holding the person + random distractors).
        shared_sets: names among ``'all'`` (shared gallery, query image
            excluded), ``'same'`` / ``'cross'`` (camera restricted) to add.
        quantize: embeddings in multiples of 1/4 (small dims: exact dots,
            many ties); otherwise L2-normalised float32.
        quirks: add a few duplicated gallery entries and identities repeated
            inside an image (the legacy data errors).
        noise: embedding noise relative to the identity vector (det / query
            embedding = normalise(identity + noise * random unit vector));
            ~3 gives realistic confusion in 2048-d at CUHK-SYSU scale.
        detect_prob: probability that a GT box gets a detection (score
            uniform in [0.45, 1]; background detections: [0, 0.8]).
        query_embeddings / pairs: produce the embedding form and/or the pair
            form (pair sims = the dot products).

    Returns:
        dict: ``ann`` (COCO dict), ``sets`` (name -> retrieval set dict),
        ``results`` (results dict, data_format.md section 4).
    """
    rng = np.random.default_rng(seed)
    W, H = img_size
    n_cams = 6
    images = [{'id': 1000 + i, 'file_name': f'img{i}.jpg', 'width': W,
               'height': H, 'cam_id': int(rng.integers(1, n_cams + 1))}
              for i in range(n_images)]
    nb = rng.integers(boxes_per_image[0], boxes_per_image[1] + 1, n_images)
    box_img = np.repeat(np.arange(n_images), nb)
    nbox = box_img.size
    w = rng.uniform(30, 120, nbox)
    small = rng.random(nbox) < small_box_prob
    w[small] = rng.uniform(4, 14, small.sum())
    h = w * rng.uniform(2.0, 3.0, nbox)
    x = rng.uniform(0, W - w)
    y = rng.uniform(0, np.maximum(H - h, 1))
    pids = np.full(nbox, -1, np.int64)
    img_boxes = np.split(np.arange(nbox), np.cumsum(nb)[:-1])
    # identities: each in `appearances` distinct images
    person_imgs = []
    for p in range(n_persons):
        k = int(rng.integers(appearances[0], appearances[1] + 1))
        imgs = rng.choice(n_images, size=min(k, n_images), replace=False)
        got = []
        for im in imgs.tolist():
            free = [b for b in img_boxes[im].tolist() if pids[b] < 0]
            if not free:
                continue
            b = free[int(rng.integers(len(free)))]
            pids[b] = p + 1
            got.append(im)
        if len(got) < 2:  # give it back
            pids[pids == p + 1] = -1
            got = []
        person_imgs.append(got)
    if quirks:
        # repeat a few identities inside an image (a second box, same pid)
        for p in range(0, n_persons, max(1, n_persons // 5)):
            if not person_imgs[p]:
                continue
            im = person_imgs[p][-1]
            free = [b for b in img_boxes[im].tolist() if pids[b] < 0]
            if free:
                pids[free[0]] = p + 1
    anns = []
    for b in range(nbox):
        bw, bh = float(w[b]), float(h[b])
        anns.append({
            'id': b, 'image_id': 1000 + int(box_img[b]), 'category_id': 1,
            'iscrowd': 0, 'bbox': [float(x[b]), float(y[b]), bw, bh],
            'area': bw * bh, 'person_id': int(pids[b]),
            'is_known': bool(pids[b] >= 0),
            'iou_thresh': min(0.5, bw * bh / ((bw + 10) * (bh + 10)))})
    ann = {'info': {'dataset': 'synthetic', 'partition': 'test'},
           'categories': [{'id': 1, 'name': 'person'}], 'images': images,
           'annotations': anns}

    # queries: first box (file order) of each identity that has >= 2 images
    persons = [p for p in range(n_persons) if len(person_imgs[p]) >= 2]
    if n_queries is not None:
        persons = persons[:n_queries]
    queries = []
    for p in persons:
        bs = np.flatnonzero(pids == p + 1)
        q = int(bs[0])
        queries.append({'ann_id': q, 'image_id': 1000 + int(box_img[q]),
                        'bbox': anns[q]['bbox'], 'person_id': p + 1,
                        '_img': int(box_img[q]), '_p': p})
    sets = {}
    for G in gallery_sizes:
        qs = []
        for qi, q in enumerate(queries):
            pos = [im for im in person_imgs[q['_p']] if im != q['_img']]
            pos = list(dict.fromkeys(pos))
            neg_pool = np.setdiff1d(np.arange(n_images),
                                    person_imgs[q['_p']] + [q['_img']])
            n_neg = max(0, min(G - len(pos), neg_pool.size))
            neg = rng.choice(neg_pool, size=n_neg, replace=False).tolist()
            gal = pos + neg
            order = rng.permutation(len(gal))
            gal = [gal[i] for i in order]
            if quirks and qi % 7 == 3 and gal:
                gal.append(gal[0])  # duplicated gallery entry
            qs.append({k: v for k, v in q.items() if not k.startswith('_')}
                      | {'gallery': [1000 + g for g in gal]})
        sets[f'G{G}'] = {'name': f'G{G}', 'dataset': 'synthetic',
                         'ann_file': 'test.json', 'gallery': None,
                         'exclude_query_image': False, 'camera': None,
                         'queries': qs}
    for kind in shared_sets:
        qs = [{k: v for k, v in q.items() if not k.startswith('_')}
              for q in queries]
        sets[kind] = {'name': kind, 'dataset': 'synthetic',
                      'ann_file': 'test.json',
                      'gallery': [im['id'] for im in images],
                      'exclude_query_image': kind == 'all',
                      'camera': None if kind == 'all' else kind,
                      'queries': qs}

    # ----- predictions -------------------------------------------------
    id_vecs = rng.standard_normal((n_persons + 1, dim), dtype=np.float32)
    _normalize_rows(id_vecs)
    det_img, det_src = [], []
    for im in range(n_images):
        bs = img_boxes[im]
        hit = bs[rng.random(bs.size) < detect_prob]
        n_bg = max(0, dets_per_image - hit.size)
        det_img.append(np.full(hit.size + n_bg, im))
        det_src.append(np.concatenate([hit, np.full(n_bg, -1)]))
    det_img = np.concatenate(det_img)
    det_src = np.concatenate(det_src).astype(np.int64)
    M = det_img.size
    is_gt = det_src >= 0
    src = np.where(is_gt, det_src, 0)
    bw, bh = w[src], h[src]
    jit = rng.normal(0, 0.06, (M, 4))
    bx1 = x[src] + jit[:, 0] * bw
    by1 = y[src] + jit[:, 1] * bh
    bx2 = x[src] + bw + jit[:, 2] * bw
    by2 = y[src] + bh + jit[:, 3] * bh
    # background boxes
    n_bg = int((~is_gt).sum())
    gw = rng.uniform(20, 120, n_bg)
    gh = gw * rng.uniform(1.5, 3.0, n_bg)
    gx = rng.uniform(0, W - gw)
    gy = rng.uniform(0, np.maximum(H - gh, 1))
    bx1[~is_gt], by1[~is_gt] = gx, gy
    bx2[~is_gt], by2[~is_gt] = gx + gw, gy + gh
    boxes = np.stack([bx1, by1, bx2, by2], 1).astype(np.float32)
    scores = np.where(is_gt, rng.uniform(0.45, 1.0, M),
                      rng.uniform(0.0, 0.8, M)).astype(np.float32)
    if quantize:
        embs = (rng.integers(-2, 3, (M, dim)) / 4).astype(np.float32)
        qid = (rng.integers(-2, 3, (n_persons + 1, dim)) / 4).astype(
            np.float32)
        det_pid = np.where(is_gt, pids[src], -1)
        same = det_pid >= 0
        # half of the coordinates copied from the identity vector
        mask = rng.random((int(same.sum()), dim)) < 0.6
        e = embs[same]
        e[mask] = qid[det_pid[same]][mask]
        embs[same] = e
    else:
        embs = rng.standard_normal((M, dim), dtype=np.float32)
        _normalize_rows(embs)
        embs *= np.float32(noise)
        det_pid = np.where(is_gt, pids[src], -1)
        same = np.flatnonzero(det_pid >= 0)
        # in chunks to keep memory modest at full scale
        for a in range(0, same.size, 65536):
            s = same[a:a + 65536]
            embs[s] += id_vecs[det_pid[s]]
        _normalize_rows(embs)
        qid = id_vecs
    ptr = np.concatenate([[0], np.cumsum(np.bincount(det_img,
                                                     minlength=n_images))])
    gallery = {}
    for im in range(n_images):
        a, b = ptr[im], ptr[im + 1]
        gallery[1000 + im] = {'bboxes': boxes[a:b], 'scores': scores[a:b],
                              'embeddings': embs[a:b]}
    results = {'gallery': gallery}
    qemb = {}
    for q in queries:
        if quantize:
            v = qid[q['_p'] + 1].copy()
        else:
            v = id_vecs[q['_p'] + 1] + noise * _normalize_rows(
                rng.standard_normal((1, dim), dtype=np.float32))[0]
            v /= np.linalg.norm(v)
        qemb[q['ann_id']] = v.astype(np.float32)
    if query_embeddings:
        results['queries'] = qemb
    if pairs:
        pr = {}
        for s in sets.values():
            for q in s['queries']:
                for g in (q.get('gallery') or []) + (s['gallery'] or []):
                    key = (q['ann_id'], g)
                    if key in pr:
                        continue
                    d = gallery[g]
                    pr[key] = {'bboxes': d['bboxes'], 'scores': d['scores'],
                               'sims': d['embeddings'] @ qemb[q['ann_id']]}
        results['pairs'] = pr
    return {'ann': ann, 'sets': sets, 'results': results}
