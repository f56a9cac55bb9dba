"""Prediction records and results dicts (docs/data_format.md section 4).

The format shared by whatever produces predictions (the test loops, the
metric's ``process``, ``tools/test.py --out``) and whatever evaluates them
(:mod:`mmqgn.evaluation`). A *record* is the compact, numpy-only form of one
data sample; :func:`sample_to_record` makes it, with one of three kinds:

``gallery``
    ``{'kind': 'gallery', 'img_id', 'bboxes' (N, 4) x1y1x2y2, 'scores' (N,)
    [, 'embeddings' (N, D)] [, 'scene_embedding' (E,)] [, 'gfn_skipped']}``
``query``
    ``{'kind': 'query', 'ann_id', 'embedding' (D,) [, 'scene_embedding'
    (E,)] [, 'gfn_query' (E,)]}``
``pair`` (query-guided models)
    ``{'kind': 'pair', 'ann_id', 'img_id', 'bboxes' (N, 4), 'scores' (N,),
    'sims' (N,) [, 'gfn_score'] [, 'gfn_skipped']}``

Arrays are float32; detections are kept at ``score >= det_thresh``.
:func:`records_to_results` gathers records into the results dict
(``gallery`` / ``queries`` / ``pairs`` / ``query_gfn``) that the evaluator and
the results files use; :func:`normalize_results` reads that dict back from its
pickle or JSON flavour. Pure numpy (tensors are converted without importing
torch).
"""
import re

import numpy as np

__all__ = ['to_numpy', 'pair_key', 'normalize_results', 'sample_to_record',
           'records_to_results', 'RECORD_KINDS', 'DET_SCORE_SOURCES',
           'pair_cut_scores', 'PAIR_PRED_KEYS', 'pair_sample',
           'empty_pair_sample']


def to_numpy(x, dtype=None):
    """Tensor / array / list -> numpy array (CPU), optionally cast."""
    if x is None:
        return None
    if type(x) is np.ndarray and (dtype is None or x.dtype == dtype):
        return x
    if hasattr(x, 'detach'):  # torch.Tensor, without importing torch
        x = x.detach()
        if hasattr(x, 'float') and dtype is not None and \
                str(x.dtype) in ('torch.float16', 'torch.bfloat16'):
            x = x.float()
        x = x.cpu().numpy()
    x = np.asarray(x)
    if dtype is not None and x.dtype != dtype:
        x = x.astype(dtype)
    return x


_PAIR_KEY = re.compile(r'^\s*\(?\s*(-?\d+)\s*[,_ :/]\s*(-?\d+)\s*\)?\s*$')


def pair_key(key):
    """``(ann_id, image_id)`` ints from a tuple / list or a string key
    (``"ann_id,image_id"``, ``"(ann_id, image_id)"``...)."""
    if isinstance(key, (tuple, list)) and len(key) == 2:
        return int(key[0]), int(key[1])
    if isinstance(key, str):
        m = _PAIR_KEY.match(key)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise ValueError(f'cannot read pair key {key!r}: expected (ann_id, '
                     'image_id) or a string "ann_id,image_id"')


def normalize_results(results):
    """Normalise a results dict (pickle or JSON flavour) in place-safe way.

    * integer keys for ``gallery`` and ``queries`` (JSON gives strings);
    * ``pairs`` keys as ``(ann_id, image_id)`` tuples; in JSON the keys may be
      strings ``"ann_id,image_id"``, or ``pairs`` may be a list of records
      with ``ann_id`` and ``image_id`` fields.
    """
    out = {}
    gallery = results.get('gallery')
    if gallery is not None:
        if isinstance(gallery, list):
            gallery = {int(g['image_id'] if 'image_id' in g else g['img_id']):
                       g for g in gallery}
        out['gallery'] = {int(k): v for k, v in gallery.items()}
    queries = results.get('queries')
    if queries is not None:
        if isinstance(queries, list):
            queries = {int(q['ann_id']): q['embedding'] for q in queries}
        out['queries'] = {int(k): v for k, v in queries.items()}
    pairs = results.get('pairs')
    if pairs is not None:
        if isinstance(pairs, list):
            pairs = {(int(p['ann_id']), int(p['image_id'])): p
                     for p in pairs}
        else:
            pairs = {pair_key(k): v for k, v in pairs.items()}
        out['pairs'] = pairs
    query_gfn = results.get('query_gfn')
    if query_gfn is not None:
        if isinstance(query_gfn, list):
            query_gfn = {int(q['ann_id']): q for q in query_gfn}
        out['query_gfn'] = {int(k): v for k, v in query_gfn.items()}
    return out


def _as_dict(x):
    if x is None or isinstance(x, dict):
        return x
    if hasattr(x, 'to_dict'):  # mmengine BaseDataElement
        return x.to_dict()
    return dict(x)


#: which score of a pair detection the ``det_thresh`` cut applies to
#: (qgn_qeeps.md D7): 'cls' the detector's person score (``scores``), 'sim'
#: the pair similarity (``sims``, e.g. the QSimNet p_same).
DET_SCORE_SOURCES = ('cls', 'sim')


def pair_cut_scores(scores, sims, det_score_source='cls'):
    """The (N,) scores of pair detections that ``det_thresh`` cuts:
    ``scores`` for ``'cls'`` (the standard protocol), ``sims`` for
    ``'sim'`` (D7; ranking is by ``sims`` either way)."""
    if det_score_source not in DET_SCORE_SOURCES:
        raise ValueError("det_score_source must be 'cls' (detector score) "
                         f"or 'sim' (pair similarity), got "
                         f'{det_score_source!r}')
    return scores if det_score_source == 'cls' else sims


def sample_to_record(sample, det_thresh=0.5, det_score_source='cls'):
    """One data sample (dict or DetDataSample) -> a compact record.

    Three kinds (see ``PersonSearchMetric``): gallery (``img_id``,
    ``pred_instances`` with ``bboxes``, ``scores`` [, ``embeddings``]), query
    (``is_query=True``, ``query_ann_id``, ``pred_instances.embeddings``) and
    pair (``query_ann_id`` with ``is_query`` False, ``img_id``,
    ``pred_instances`` with ``bboxes``, ``scores``, ``sims``). Arrays become
    float32 numpy; detections are kept at ``score >= det_thresh`` (pairs:
    the score chosen by ``det_score_source``, see :func:`pair_cut_scores`).
    """
    sample = _as_dict(sample)
    pred = _as_dict(sample.get('pred_instances')) or {}
    qid = sample.get('query_ann_id')
    if sample.get('is_query', False):
        if qid is None:
            raise KeyError('query sample without query_ann_id')
        emb = pred.get('embeddings')
        if emb is None:
            raise KeyError(f'query sample (ann_id {int(qid)}) has no '
                           'pred_instances.embeddings')
        rec = {'kind': 'query', 'ann_id': int(qid),
               'embedding': to_numpy(emb, np.float32).reshape(-1)}
        for key in ('scene_embedding', 'gfn_query'):
            if sample.get(key) is not None:
                rec[key] = to_numpy(sample[key], np.float32).reshape(-1)
        return rec
    scores = to_numpy(pred['scores'], np.float32).reshape(-1)
    is_pair = qid is not None and int(qid) >= 0
    sims = to_numpy(pred['sims'], np.float32).reshape(-1) if is_pair \
        else None
    keep = (pair_cut_scores(scores, sims, det_score_source)
            if is_pair else scores) >= det_thresh
    rec = {'img_id': int(sample['img_id']),
           'bboxes': to_numpy(pred['bboxes'], np.float32).reshape(-1, 4)[keep],
           'scores': scores[keep]}
    if is_pair:  # pair (query-guided model)
        rec.update(kind='pair', ann_id=int(qid), sims=sims[keep])
        if sample.get('gfn_score') is not None:
            rec['gfn_score'] = float(to_numpy(sample['gfn_score']).reshape(
                -1)[0])
    else:
        rec['kind'] = 'gallery'
        emb = pred.get('embeddings')
        if emb is not None:
            emb = to_numpy(emb, np.float32)
            if emb.ndim != 2:  # (0, D) arrays cannot be reshaped with -1
                emb = emb.reshape(emb.shape[0], -1)
            rec['embeddings'] = np.ascontiguousarray(emb[keep])
        if sample.get('scene_embedding') is not None:
            rec['scene_embedding'] = to_numpy(sample['scene_embedding'],
                                              np.float32).reshape(-1)
    if sample.get('gfn_skipped', False):
        rec['gfn_skipped'] = True
    return rec


def records_to_results(records):
    """Records of :func:`sample_to_record` -> the results dict of
    docs/data_format.md section 4 (later records of the same image / pair /
    query replace earlier ones). GFN fields: ``scene_embedding`` and
    ``gfn_skipped`` of gallery images, ``gfn_score`` / ``gfn_skipped`` of
    pairs, and ``query_gfn`` = ``{ann_id: {'scene_embedding', 'gfn_query'}}``
    for the queries that carry them."""
    gallery, queries, pairs, query_gfn = {}, {}, {}, {}
    for r in records:
        kind = r['kind']
        if kind == 'query':
            queries[r['ann_id']] = r['embedding']
            extra = {k: r[k] for k in ('scene_embedding', 'gfn_query')
                     if k in r}
            if extra:
                query_gfn[r['ann_id']] = extra
            continue
        d = {'bboxes': r['bboxes'], 'scores': r['scores']}
        d.update({k: r[k] for k in _OPTIONAL[kind] if k in r})
        if kind == 'pair':
            pairs[(r['ann_id'], r['img_id'])] = d
        else:
            gallery[r['img_id']] = d
    out = {'gallery': gallery}
    if queries:
        out['queries'] = queries
    if query_gfn:
        out['query_gfn'] = query_gfn
    if pairs:
        out['pairs'] = pairs
    return out


# optional fields copied from a record into the results dict, per kind
_OPTIONAL = {'pair': ('sims', 'gfn_score', 'gfn_skipped'),
             'gallery': ('embeddings', 'scene_embedding', 'gfn_skipped')}

RECORD_KINDS = ('gallery', 'query', 'pair')


#: ``pred_instances`` fields a pair sample keeps (embeddings are dropped:
#: pairs are ranked by ``sims``; this keeps resume files small).
PAIR_PRED_KEYS = ('bboxes', 'scores', 'sims', 'labels')


def pair_sample(sample, as_gallery=False):
    """A predicted pair data sample of a query-guided model -> the plain
    sample dict (CPU numpy) that :func:`sample_to_record` reads and the
    query-major loop's resume file stores: ``img_id``, ``query_ann_id``,
    ``is_query=False``, ``pred_instances`` (:data:`PAIR_PRED_KEYS`).

    ``as_gallery`` makes it a plain gallery detection sample
    (``query_ann_id=-1``, no ``sims``) for the detection metric.
    """
    pred = sample.pred_instances
    inst = {k: to_numpy(pred.get(k)) for k in PAIR_PRED_KEYS
            if pred.get(k) is not None}
    qid = int(sample.metainfo['query_ann_id'])
    if as_gallery:
        inst.pop('sims', None)
        qid = -1
    return dict(img_id=int(sample.metainfo['img_id']), query_ann_id=qid,
                is_query=False, pred_instances=inst)


def empty_pair_sample(img_id, query_ann_id):
    """The sample dict of a gallery image whose pair forward was skipped:
    empty predictions (with ``sims`` for a pair, ``query_ann_id >= 0``;
    without for a gallery detection sample, ``query_ann_id=-1``)."""
    inst = dict(bboxes=np.zeros((0, 4), np.float32),
                scores=np.zeros((0, ), np.float32),
                labels=np.zeros((0, ), np.int64))
    if query_ann_id >= 0:
        inst['sims'] = np.zeros((0, ), np.float32)
    return dict(img_id=int(img_id), query_ann_id=int(query_ann_id),
                is_query=False, pred_instances=inst)
