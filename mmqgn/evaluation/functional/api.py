"""Function API: evaluate a results dict on one or more retrieval sets.

Used by :class:`mmqgn.evaluation.PersonSearchMetric` and by
``tools/analysis_tools/eval_person_search.py``. Needs numpy only (mmengine is
used for logging and the progress bar when importable).
"""
import json
import os
import os.path as osp

import numpy as np

import functools

from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
                              load_json, normalize_results,
                              resolve_retrieval_set)
from .det_eval import eval_detection as _eval_detection
from .gfn_eval import entry_gfn_scores, eval_gfn_set
from .predictions import GalleryPredictions, PairPredictions
from .search_eval import eval_search

__all__ = ['evaluate_person_search', 'format_table', 'load_retrieval_sets',
           'results_table']


def _log(msg, logger=None):
    try:
        from mmengine.logging import print_log
    except ImportError:  # pragma: no cover
        print(msg)
    else:
        print_log(msg, logger=logger)


def _progress_bar(total):
    """mmengine ProgressBar (or None when mmengine is missing)."""
    try:
        from mmengine.utils import ProgressBar
    except ImportError:  # pragma: no cover
        return None
    bar = ProgressBar(total)
    return lambda n: bar.update(num_tasks=n)


def load_retrieval_sets(retrieval_sets, anns, ann_file=None,
                        retrieval_dir=None):
    """Load retrieval sets given by name or path; check their ``ann_file``.

    Returns:
        list[tuple[str, RetrievalSet]]: (metric key prefix, set).
    """
    if isinstance(retrieval_sets, (str, os.PathLike)):
        retrieval_sets = [retrieval_sets]
    out, used = [], set()
    for entry in retrieval_sets:
        given_key = None
        if isinstance(entry, tuple) and len(entry) == 2 and \
                isinstance(entry[1], RetrievalSet):
            given_key, rset = entry
        elif isinstance(entry, RetrievalSet):
            rset = entry
        else:
            path = resolve_retrieval_set(entry, ann_file, retrieval_dir)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'retrieval set {entry!r}: file {path} not found')
            data = load_json(path)
            set_ann = data.get('ann_file')
            if set_ann and ann_file and \
                    osp.basename(set_ann) != osp.basename(ann_file):
                raise ValueError(
                    f'retrieval set {entry!r} ({path}) refers to the '
                    f'annotation file {set_ann!r} but the evaluation uses '
                    f'{ann_file!r}: image and annotation ids would not match')
            rset = RetrievalSet(data, anns)
            rset.path = path
        key = given_key or rset.name
        n = 2
        while key in used:
            key = f'{rset.name}_{n}'
            n += 1
        used.add(key)
        out.append((key, rset))
    return out


def evaluate_person_search(results, ann_file, retrieval_sets=('G100', ),
                           retrieval_dir=None, *, det_thresh=0.5,
                           legacy=True, topk=(1, 5, 10), eval_detection=True,
                           mode='auto', logger=None, progress=False,
                           outfile_prefix=None, return_details=False,
                           annotations=None, print_table=True,
                           max_chunk_entries=4_000_000, gfn_thr=None,
                           gfn_recall=0.99, det_score_source='cls'):
    """Evaluate person search (retrieval + detection) from a results dict.

    Args:
        results (dict): ``{'gallery': {img_id: {'bboxes', 'scores'[,
            'embeddings']}}, 'queries': {ann_id: emb}, 'pairs':
            {(ann_id, img_id): {'bboxes', 'scores', 'sims'}}}``
            (docs/data_format.md section 4; JSON-style string keys accepted).
        ann_file (str): the standardized annotation JSON of the partition.
        retrieval_sets (Sequence[str]): set names (resolved in
            ``retrieval_dir``, default ``dirname(ann_file)/../retrieval``),
            paths, :class:`RetrievalSet` objects or (key, RetrievalSet).
        det_thresh (float): detection score threshold (search and detection).
        det_score_source (str): pair form: the score ``det_thresh`` cuts in
            the search evaluation, ``'cls'`` (the detector's person score,
            default, the standard protocol) or ``'sim'`` (the pair
            similarity; qgn_qeeps.md D7). The detection metrics always cut
            the gallery records' detector scores.
        legacy (bool): legacy protocol quirks (default) or corrected.
        topk (Sequence[int]): top-k accuracies to report.
        eval_detection (bool): also compute the detection metrics on the
            images of the evaluated sets (gallery and query images that have
            a gallery prediction).
        mode (str): 'auto' (pair form if ``pairs`` are given, else the
            embedding form), 'embedding' or 'pair'.
        logger: mmengine logger (or name) for the table; None prints.
        progress (bool): show an mmengine ProgressBar over queries.
        outfile_prefix (str, optional): dump per-query results to
            ``<prefix>.person_search.json``.
        return_details (bool): also return the per-set
            :class:`SearchEvalResult` objects and the detection dicts.
        annotations (PersonSearchAnnotations, optional): pre-loaded
            annotations (``ann_file`` may then be None).
        gfn_thr (float, optional): GFN filter threshold of the
            ``filtered_*`` metrics; None = each set's own ``gfn_recall``
            threshold (an oracle: calibrate on val for honest numbers).
        gfn_recall (float): recall of positive scenes of the calibrated
            threshold (§3.7). Default 0.99.

    Returns:
        dict: metrics ``<set>/mAP``, ``<set>/top<k>`` (and
        ``<set>/num_excluded`` when ``legacy=False``), ``det/AP``,
        ``det/recall``, ``det/AP_labeled``, ``det/recall_labeled``; with
        GFN outputs in the results (``query_gfn`` codes, or ``gfn_score``
        on the pairs) also ``<set>/gfn_mAP``, ``<set>/gfn_top<k>``
        (weighted), ``<set>/scene_mAP``, ``<set>/scene_top1``,
        ``<set>/scene_thr99``, ``<set>/scene_npv99``,
        ``<set>/filtered_mAP``, ``<set>/filtered_top<k>``,
        ``<set>/filter_thr`` and ``<set>/skipped`` (see
        :mod:`.gfn_eval`); with ``return_details`` a tuple
        ``(metrics, details)``.
    """
    results = normalize_results(results)
    anns = annotations if annotations is not None else \
        PersonSearchAnnotations(ann_file)
    if ann_file is None:
        ann_file = anns.path
    gallery_raw = results.get('gallery')
    queries = results.get('queries')
    pairs_raw = results.get('pairs')
    gallery = GalleryPredictions(gallery_raw, anns, det_thresh) \
        if gallery_raw else None
    pairs = PairPredictions(pairs_raw, anns, det_thresh, det_score_source) \
        if pairs_raw else None
    if mode == 'auto':
        if pairs is not None:
            mode = 'pair'
        elif queries:
            mode = 'embedding'
        else:
            raise ValueError('results hold neither query embeddings '
                             '("queries") nor pair predictions ("pairs")')

    query_gfn = results.get('query_gfn')
    gfn_on = bool(query_gfn) if mode == 'embedding' else \
        pairs is not None and not np.isnan(pairs.gfn_score).all()
    sets = load_retrieval_sets(retrieval_sets, anns, ann_file, retrieval_dir)
    metrics, details = {}, {}
    det_imgs = []
    for key, rset in sets:
        prog = _progress_bar(len(rset)) if progress else None
        res = eval_search(rset, gallery, queries, pairs,
                          det_thresh=det_thresh, legacy=legacy, topk=topk,
                          mode=mode, progress=prog,
                          max_chunk_entries=max_chunk_entries)
        if prog is not None:
            print('', flush=True)
        details[key] = res
        metrics[f'{key}/mAP'] = res.mAP
        for k in topk:
            metrics[f'{key}/top{k}'] = res.top(k)
        if not legacy:
            metrics[f'{key}/num_excluded'] = res.num_excluded
        if gfn_on:
            score, skipped = entry_gfn_scores(
                rset, gallery_raw, query_gfn,
                pairs if mode == 'pair' else None)
            search = functools.partial(
                eval_search, rset, gallery, queries, pairs,
                det_thresh=det_thresh, legacy=legacy, topk=topk, mode=mode,
                max_chunk_entries=max_chunk_entries)
            res.extra['gfn'] = eval_gfn_set(
                rset, score, skipped, search, thr=gfn_thr,
                recall=gfn_recall, legacy=legacy, topk=topk,
                logger_fn=lambda m: _log(m, logger))
            metrics.update({f'{key}/{k}': v
                            for k, v in res.extra['gfn'].items()})
        det_imgs.append(rset.image_indices(with_queries=True))
    if gallery is not None:
        gallery.release_cat()

    if eval_detection:
        if gallery is None:
            _log('person search: no gallery predictions, detection metrics '
                 'skipped', logger)
        else:
            imgs = np.unique(np.concatenate(det_imgs)) if det_imgs else \
                np.flatnonzero(gallery.has_pred)
            have = gallery.has_pred[imgs]
            if not have.all():
                _log(f'person search: {int((~have).sum())} images of the '
                     'evaluated sets have no gallery prediction; left out of '
                     'the detection metrics', logger)
            imgs = imgs[have]
            d_all = _eval_detection(anns, gallery, imgs, det_thresh)
            d_lab = _eval_detection(anns, gallery, imgs, det_thresh,
                                    labeled_only=True)
            details['det'] = d_all
            details['det_labeled'] = d_lab
            metrics['det/AP'] = d_all['ap']
            metrics['det/recall'] = d_all['recall']
            metrics['det/AP_labeled'] = d_lab['ap']
            metrics['det/recall_labeled'] = d_lab['recall']

    if print_table:
        _log('\n' + results_table(details, topk, legacy), logger)
    if outfile_prefix is not None:
        dump_details(details, metrics, f'{outfile_prefix}.person_search.json')
    if return_details:
        return metrics, details
    return metrics


def dump_details(details, metrics, path):
    out = {'metrics': {k: float(v) for k, v in metrics.items()}, 'sets': {}}
    for key, res in details.items():
        if key.startswith('det'):
            out[key] = res
        else:
            out['sets'][key] = {'summary': res.summary(),
                                'per_query': res.per_query()}
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(path, 'w') as f:
        json.dump(out, f)
    return path


def format_table(header, rows):
    """Plain text table (markdown pipe style)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r):
        return '| ' + ' | '.join(c.rjust(w) for c, w in zip(r, widths)) + ' |'

    sep = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
    return '\n'.join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def results_table(details, topk=(1, 5, 10), legacy=True):
    """Text tables of per-set retrieval results and detection results."""
    header = ['set', 'queries', 'mAP'] + [f'top-{k}' for k in topk]
    if not legacy:
        header.append('excluded')
    rows = []
    for key, res in details.items():
        if key.startswith('det'):
            continue
        row = [key, res.num_queries, f'{100 * res.mAP:.2f}'] + \
            [f'{100 * res.top(k):.2f}' for k in topk]
        if not legacy:
            row.append(res.num_excluded)
        rows.append(row)
    text = format_table(header, rows) if rows else ''
    gfn = {k: r.extra['gfn'] for k, r in details.items()
           if not k.startswith('det') and 'gfn' in r.extra}
    if gfn:
        cols = [c for c in next(iter(gfn.values()))
                if '_top' not in c or c.endswith('_top1')]
        text += '\n' + format_table(
            ['GFN'] + cols,
            [[k] + [f'{g[c]:.4f}' if 'thr' in c else f'{100 * g[c]:.2f}'
                    for c in cols] for k, g in gfn.items()])
    if 'det' in details:
        d, dl = details['det'], details['det_labeled']
        text += '\n' + format_table(
            ['detection', 'images', 'GT', 'AP', 'recall'],
            [['all', d['num_images'], d['num_gt'], f"{100 * d['ap']:.2f}",
              f"{100 * d['recall']:.2f}"],
             ['labeled', dl['num_images'], dl['num_gt'],
              f"{100 * dl['ap']:.2f}", f"{100 * dl['recall']:.2f}"]])
    return text
