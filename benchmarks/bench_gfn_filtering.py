"""Benchmark: two-phase GFN search vs GFN weighting only (issue 5).

For an embedding-form model with a Gallery Filter Network (default
``configs/seqnext/seqnext-gfn_r50-w16_tiny_synthetic.py``; any
GFN (``gfn=dict(...)``) config via ``--config``) and a query-guided one (default
``configs/qgn/qgn_gfn_tiny_synthetic.py``, ``--qg-config``):

1. calibrate the GFN threshold keeping ``--recall`` (99%) of the matching
   scenes over the pooled (query, scene) pairs of the **val** retrieval set
   of the CUHK-SYSU-layout data (``retrieval/val.json`` over
   ``annotations/val.json``; gfn_seqnext.md §3.7, §8.1 decision 3) with
   ``calibrate_gfn_threshold``;
2. on the test retrieval set (``--test-set``, default G50), time the
   end-to-end search of each query (``mmqgn.apis.search`` over its gallery:
   image decoding, pipeline, forwards, ranking) without filtering
   (``gfn_thr=None``: similarities weighted by the GFN score only) and with
   two-phase filtering at the calibrated threshold, the two runs of a query
   back to back in alternating order;
3. evaluate both runs with the project's evaluator (pair form:
   per (query, gallery image) boxes, scores and similarities,
   ``evaluate_person_search(..., mode='pair')``).

Prints, per model, the threshold, the share of negative val scenes below
it, the share of test scenes skipped, seconds per query, the speed-up
(unfiltered / filtered time) and the mAP / top-1 of both runs. Not a test:
nothing is asserted on time. Without a checkpoint
(``work_dirs/<config name>/last_checkpoint`` by default) the weights are
random and the mAP meaningless (a warning says so).

    python benchmarks/bench_gfn_filtering.py [--quick] [--num-queries N]
        [--config CFG --checkpoint CKPT] [--qg-config CFG --qg-checkpoint
        CKPT] [--models embedding query-guided] [--data-root DIR]
"""
import argparse
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from mmqgn.apis import (extract_gfn_query, extract_scene_embeddings,
                        init_searcher, search)
from mmqgn.evaluation.functional import (calibrate_gfn_threshold,
                                         evaluate_person_search,
                                         format_table, gfn_negative_filtered)
from mmqgn.search import gfn_scores
from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
                              resolve_retrieval_set)
from mmqgn.utils.json_io import CONVERTER_FIX, load_json

EMBEDDING_CONFIG = 'configs/seqnext/seqnext-gfn_r50-w16_tiny_synthetic.py'
MODELS = dict(embedding=('config', 'checkpoint', EMBEDDING_CONFIG),
              **{'query-guided': ('qg_config', 'qg_checkpoint',
                                  'configs/qgn/qgn_gfn_tiny_synthetic.py')})


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    for kind, (cfg, ckpt, default) in MODELS.items():
        p.add_argument('--' + cfg.replace('_', '-'), default=default,
                       help=f'{kind} model config (with a GFN)')
        p.add_argument('--' + ckpt.replace('_', '-'),
                       help='checkpoint (default: work_dirs/<config name>/'
                       'last_checkpoint if it exists, else random weights)')
    p.add_argument('--models', nargs='+', choices=list(MODELS),
                   default=list(MODELS))
    p.add_argument('--data-root', default='data/synthetic/CUHK-SYSU',
                   help='converted CUHK-SYSU-layout dataset')
    p.add_argument('--val-set', default='val',
                   help='retrieval set of annotations/val.json to calibrate '
                   'on')
    p.add_argument('--test-set', default='G50',
                   help='retrieval set of annotations/test.json to time')
    p.add_argument('--recall', type=float, default=0.99,
                   help='share of matching val scenes the threshold keeps')
    p.add_argument('--num-queries', type=int, help='test queries (all)')
    p.add_argument('--num-val-queries', type=int, help='val queries (all)')
    p.add_argument('--gallery-size', type=int,
                   help='cut every gallery list of the test set to its '
                   'first N images (smoke tests; default: whole galleries)')
    p.add_argument('--batch-size', type=int, default=1,
                   help='gallery images per forward')
    p.add_argument('--det-thr', type=float, default=0.5,
                   help='detection score threshold of the evaluation')
    p.add_argument('--device', default='cpu')
    p.add_argument('--random-init', action='store_true',
                   help='ignore checkpoints: random weights (timings only)')
    p.add_argument('--quick', action='store_true',
                   help='smoke test: 2 test and 2 val queries')
    args = p.parse_args(argv)
    if args.quick:
        args.num_queries = args.num_queries or 2
        args.num_val_queries = args.num_val_queries or 2
    return args


# ---------------------------------------------------------------- set-up
def default_checkpoint(config: str) -> Optional[str]:
    """The checkpoint named by ``work_dirs/<config name>/last_checkpoint``."""
    name = osp.splitext(osp.basename(config))[0]
    marker = osp.join('work_dirs', name, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def load_model(config: str, checkpoint: Optional[str], device: str,
               random_init: bool = False):
    if random_init:
        checkpoint = None
    else:
        checkpoint = checkpoint or default_checkpoint(config)
    if checkpoint is None:
        print(f'WARNING: no checkpoint for {config}: random weights, the '
              'mAP figures are meaningless (timings still hold)')
        torch.manual_seed(0)
    model = init_searcher(config, checkpoint, device=device,
                          cfg_options=dict(load_from=None))
    if not model.with_gfn:
        raise SystemExit(f'{config}: the model has no GFN (model.gfn)')
    return model, checkpoint


def load_set(data_root: str,
             partition: str,
             name: str,
             num_queries: Optional[int],
             gallery_size: Optional[int] = None) -> RetrievalSet:
    """Retrieval set ``name`` over ``annotations/<partition>.json``,
    restricted to its first ``num_queries`` queries (and the first
    ``gallery_size`` images of each gallery list)."""
    ann_file = osp.join(data_root, 'annotations', f'{partition}.json')
    path = resolve_retrieval_set(name, ann_file,
                                 osp.join(data_root, 'retrieval'))
    data = load_json(path, CONVERTER_FIX)
    if num_queries is not None:
        data = dict(data, queries=data['queries'][:num_queries])
    if gallery_size is not None:
        data = _cut_galleries(data, gallery_size)
    return RetrievalSet(data, PersonSearchAnnotations(ann_file), name=name)


def _cut_galleries(data: dict, size: int) -> dict:
    """The retrieval JSON with every gallery list cut to ``size``."""
    queries = [
        dict(q, gallery=q['gallery'][:size]) if q.get('gallery') is not None
        else q for q in data['queries']
    ]
    shared = data.get('gallery')
    return dict(data, queries=queries,
                gallery=None if shared is None else shared[:size])


def image_path(data_root: str, rset: RetrievalSet, img_idx: int) -> str:
    return osp.join(data_root, rset.anns.file_names[int(img_idx)])


def query_of(data_root: str, rset: RetrievalSet, q: int) -> tuple:
    """(query image path, [x1, y1, x2, y2], gallery paths, gallery ids)."""
    lo, hi = rset.gal_ptr[q], rset.gal_ptr[q + 1]
    gal_idx = rset.gal_img_idx[lo:hi]
    return (image_path(data_root, rset, rset.query_img_idx[q]),
            rset.query_boxes[q].tolist(),
            [image_path(data_root, rset, i) for i in gal_idx],
            rset.anns.img_ids[gal_idx].tolist())


# ----------------------------------------------------------- calibration
def calibrate(model, rset: RetrievalSet, data_root: str, recall: float,
              batch_size: int) -> dict:
    """GFN scores of every (query, gallery scene) pair of ``rset`` (scene
    embeddings computed once per image) -> the threshold keeping ``recall``
    of the positive pairs and the share of negatives below it."""
    needed = np.unique(rset.gal_img_idx)
    scenes = extract_scene_embeddings(
        model, [image_path(data_root, rset, i) for i in needed], batch_size)
    row = {int(i): k for k, i in enumerate(needed.tolist())}
    scores = np.zeros(len(rset.gal_img_idx), np.float64)
    for q in range(len(rset)):
        qpath, qbox, _, _ = query_of(data_root, rset, q)
        record = extract_gfn_query(model, qpath, qbox)
        lo, hi = rset.gal_ptr[q], rset.gal_ptr[q + 1]
        rows = [row[int(i)] for i in rset.gal_img_idx[lo:hi]]
        with torch.no_grad():
            scores[lo:hi] = gfn_scores(model, record,
                                       scenes[rows]).cpu().numpy()
    thr = calibrate_gfn_threshold(scores, rset.is_pos, recall)
    return dict(thr=thr, pairs=len(scores), positives=int(rset.is_pos.sum()),
                neg_filtered=gfn_negative_filtered(scores, rset.is_pos, thr))


# ---------------------------------------------------------------- timing
def timed_runs(model, rset: RetrievalSet, data_root: str, thr: float,
               batch_size: int) -> Dict[str, dict]:
    """Both searches of every query of ``rset``, alternating which runs
    first -> per run: total seconds, scenes, skipped, pair records."""
    runs = {name: dict(seconds=0.0, scenes=0, skipped=0, pairs={})
            for name in ('weighting only', 'two-phase')}
    qpath, qbox, gallery, _ = query_of(data_root, rset, 0)
    for gfn_thr in (None, thr):  # warm-up (pipelines, allocator)
        search(model, qpath, qbox, gallery[:1], progress=False,
               gfn_thr=gfn_thr)
    for q in range(len(rset)):
        qpath, qbox, gallery, gal_ids = query_of(data_root, rset, q)
        order = [('weighting only', None), ('two-phase', thr)]
        for name, gfn_thr in (order if q % 2 == 0 else order[::-1]):
            stats = {}
            start = time.perf_counter()
            matches = search(model, qpath, qbox, gallery, progress=False,
                             batch_size=batch_size, gfn_thr=gfn_thr,
                             stats=stats)
            run = runs[name]
            run['seconds'] += time.perf_counter() - start
            run['scenes'] += stats['num_scenes']
            run['skipped'] += stats['num_skipped']
            run['pairs'].update(
                pair_records(int(rset.query_ann_ids[q]), gal_ids, matches))
    return runs


def pair_records(ann_id: int, gal_ids: List[int], matches) -> dict:
    """SearchMatch list of one query -> ``{(ann_id, img_id): {bboxes,
    scores, sims}}`` for every gallery image (empty when nothing found)."""
    per_img = {int(i): [] for i in gal_ids}
    for m in matches:
        per_img[int(gal_ids[m.gallery_idx])].append(m)
    return {(ann_id, img_id): dict(
        bboxes=np.array([m.bbox for m in ms], np.float32).reshape(-1, 4),
        scores=np.array([m.score for m in ms], np.float32),
        sims=np.array([m.similarity for m in ms], np.float32))
            for img_id, ms in per_img.items()}


def evaluate(pairs: dict, rset: RetrievalSet, det_thr: float) -> dict:
    metrics = evaluate_person_search(
        dict(pairs=pairs), None, retrieval_sets=[(rset.name, rset)],
        annotations=rset.anns, mode='pair', eval_detection=False,
        det_thresh=det_thr, print_table=False, topk=(1, ))
    return dict(mAP=metrics[f'{rset.name}/mAP'],
                top1=metrics[f'{rset.name}/top1'])


# ------------------------------------------------------------------ main
def bench_model(kind: str, args: argparse.Namespace) -> dict:
    cfg_key, ckpt_key, _ = MODELS[kind]
    config = getattr(args, cfg_key)
    if not osp.isfile(config):
        print(f'{kind}: {config} does not exist, skipped')
        return {}
    model, checkpoint = load_model(config, getattr(args, ckpt_key),
                                   args.device, args.random_init)
    val = load_set(args.data_root, 'val', args.val_set,
                   args.num_val_queries)
    cal = calibrate(model, val, args.data_root, args.recall,
                    args.batch_size)
    test = load_set(args.data_root, 'test', args.test_set,
                    args.num_queries, args.gallery_size)
    runs = timed_runs(model, test, args.data_root, cal['thr'],
                      args.batch_size)
    report = dict(config=config, checkpoint=checkpoint, calibration=cal,
                  queries=len(test),
                  scenes_per_query=float(test.gallery_sizes.mean()))
    for name, run in runs.items():
        report[name] = dict(
            s_per_query=run['seconds'] / max(len(test), 1),
            skipped=run['skipped'] / max(run['scenes'], 1),
            **evaluate(run['pairs'], test, args.det_thr))
    report['speedup'] = (report['weighting only']['s_per_query'] /
                         max(report['two-phase']['s_per_query'], 1e-12))
    print_report(kind, report, val, test, args)
    return report


def print_report(kind: str, r: dict, val: RetrievalSet, test: RetrievalSet,
                 args: argparse.Namespace) -> None:
    cal = r['calibration']
    weights = r['checkpoint'] or 'random weights'
    print(f'\n== {kind}: {r["config"]} ({weights})')
    print(f'threshold {cal["thr"]:.4f}: keeps {100 * args.recall:.0f}% of '
          f'the {cal["positives"]} matching scenes of {val.name} '
          f'({len(val)} queries, {cal["pairs"]} pairs); '
          f'{100 * cal["neg_filtered"]:.1f}% of its negative scenes below')
    rows = []
    for name in ('weighting only', 'two-phase'):
        run = r[name]
        rows.append([name, f'{100 * run["skipped"]:.1f}',
                     f'{run["s_per_query"]:.3f}',
                     f'{100 * run["mAP"]:.2f}', f'{100 * run["top1"]:.2f}'])
    print(format_table(
        [f'{test.name} ({r["queries"]} queries, '
         f'{r["scenes_per_query"]:.0f} scenes each)', 'skipped %', 's / query',
         'mAP', 'top-1'], rows))
    print(f'speed-up of two-phase search: x{r["speedup"]:.2f}')


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    return {kind: bench_model(kind, args) for kind in args.models}


if __name__ == '__main__':
    main()
