"""Benchmark: vectorised person-search evaluation vs the reference loop.

Synthetic predictions at full CUHK-SYSU test scale (2,900 queries, 6,978
gallery images, ~15 detections per image, 2048-d L2-normalised embeddings;
the query person's images hold a detection near its GT box with a similar
embedding), evaluated on a G100 and a G4000 retrieval set, legacy protocol.
Both implementations start from the same raw results dict and the same
loaded retrieval set. The numbers are compared (mAP, top-k, per-query AP max
abs diff, per-query first-positive ranks) and the speed-up is printed.

At G4000 the reference loop would take many minutes, so by default it runs
on a fixed subset of queries (every k-th query) and the per-query times are
compared on that subset (the vectorised time per query is measured on all
queries; its subset numbers are taken from the full run).

Not a test (no assertions on time). Usage:

    python benchmarks/bench_person_search_metric.py [--dim 2048]
        [--sets 100 4000] [--ref-subset-g4000 100] [--ref-subset-g100 0]
"""
import argparse
import gc
import os.path as osp
import sys
import time

import numpy as np

import mmqgn.evaluation.functional as F
from mmqgn.structures import PersonSearchAnnotations, RetrievalSet

# the synthetic problem is test data, shared with the tests (tests/fixtures)
sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'tests'))
from fixtures.search_problem import make_search_problem  # noqa: E402


def compare(fast, ref, topk):
    """Agreement of two SearchEvalResult on the same queries."""
    return {
        'mAP_fast': fast.mAP, 'mAP_ref': ref.mAP,
        'mAP_absdiff': abs(fast.mAP - ref.mAP),
        'ap_max_absdiff': float(np.abs(fast.ap - ref.ap).max())
        if fast.ap.size else 0.0,
        'topk_equal': all(fast.top(k) == ref.top(k) for k in topk),
        'ranks_equal': bool((fast.first_rank == ref.first_rank).all()),
        'counts_equal': bool((fast.gt_count == ref.gt_count).all() and
                             (fast.count_tp == ref.count_tp).all()),
    }


def subset_result(res, idx):
    return F.SearchEvalResult(
        name=res.name, ann_ids=res.ann_ids[idx], ap=res.ap[idx],
        gt_count=res.gt_count[idx], count_tp=res.count_tp[idx],
        first_rank=res.first_rank[idx], num_dets=res.num_dets[idx],
        valid=res.valid[idx], topk=res.topk, legacy=res.legacy)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--images', type=int, default=6978)
    ap.add_argument('--queries', type=int, default=2900)
    ap.add_argument('--dim', type=int, default=2048)
    ap.add_argument('--dets', type=int, default=15)
    ap.add_argument('--sets', type=int, nargs='+', default=[100, 4000])
    ap.add_argument('--ref-subset-g100', type=int, default=0,
                    help='reference on this many queries at G100 (0: all)')
    ap.add_argument('--ref-subset-g4000', type=int, default=100,
                    help='reference on this many queries at G4000 (0: all)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--noise', type=float, default=3.0,
                    help='embedding noise (3: realistic confusion in 2048-d)')
    args = ap.parse_args()
    topk = (1, 5, 10)

    t0 = time.perf_counter()
    pb = make_search_problem(
        n_images=args.images, n_persons=args.queries, boxes_per_image=(3, 9),
        appearances=(2, 4), dets_per_image=args.dets, dim=args.dim,
        gallery_sizes=tuple(args.sets), seed=args.seed, quirks=True,
        noise=args.noise)
    results = pb['results']
    n_det = sum(v['scores'].size for v in results['gallery'].values())
    n_kept = sum(int((v['scores'] >= 0.5).sum())
                 for v in results['gallery'].values())
    print(f'synthetic problem: {args.images} images, '
          f'{len(results["queries"])} queries, {n_det} detections '
          f'({n_kept} with score >= 0.5), dim {args.dim} '
          f'[{time.perf_counter() - t0:.1f} s]')
    t0 = time.perf_counter()
    anns = PersonSearchAnnotations(pb['ann'])
    sets = {name: RetrievalSet(d, anns) for name, d in pb['sets'].items()}
    del pb['sets']
    gc.collect()
    print(f'annotations + retrieval sets loaded '
          f'[{time.perf_counter() - t0:.1f} s]\n')

    rows = []
    for name, rset in sets.items():
        G = int(name[1:])
        nq = len(rset)
        n_sub = args.ref_subset_g100 if G <= 100 else args.ref_subset_g4000
        if n_sub and n_sub < nq:
            sub = np.linspace(0, nq - 1, n_sub).round().astype(np.int64)
        else:
            sub = None
        t0 = time.perf_counter()
        fast = F.eval_search(rset, results['gallery'], results['queries'],
                             topk=topk)
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = F.eval_search_reference(rset, results['gallery'],
                                      results['queries'], topk=topk,
                                      query_subset=sub)
        t_ref = time.perf_counter() - t0
        n_ref = nq if sub is None else sub.size
        cmp = compare(fast if sub is None else subset_result(fast, sub), ref,
                      topk)
        per_q_fast = t_fast / nq
        per_q_ref = t_ref / n_ref
        print(f'== {name}: {nq} queries, '
              f'{int(rset.gal_img_idx.size)} gallery entries, '
              f'{int(fast.num_dets.sum())} ranked (query, detection) '
              f'pairs, path: {"dense" if fast.extra["dense"] else "sparse"}')
        print(f'   vectorised: {t_fast:8.2f} s for all {nq} queries '
              f'({1e3 * per_q_fast:.3f} ms/query)')
        if sub is None:
            print(f'   reference : {t_ref:8.2f} s for all {nq} queries '
                  f'({1e3 * per_q_ref:.3f} ms/query)')
        else:
            print(f'   reference : {t_ref:8.2f} s on a fixed subset of '
                  f'{n_ref} queries (evenly spaced) '
                  f'({1e3 * per_q_ref:.3f} ms/query); full-set estimate '
                  f'{per_q_ref * nq:.0f} s')
        where = '' if sub is None else ', reference on the subset'
        print(f'   speed-up  : {per_q_ref / per_q_fast:8.1f}x '
              f'(per-query time{where})')
        print(f'   vectorised: mAP {100 * fast.mAP:.4f}  ' + '  '.join(
            f'top-{k} {100 * fast.top(k):.2f}' for k in topk))
        scope = 'all queries' if sub is None else f'the {n_ref}-query subset'
        print(f'   agreement on {scope}: mAP {100 * cmp["mAP_fast"]:.6f} vs '
              f'{100 * cmp["mAP_ref"]:.6f} (|diff| {cmp["mAP_absdiff"]:.2e}),'
              f' per-query AP max |diff| {cmp["ap_max_absdiff"]:.2e}, top-k '
              f'{"identical" if cmp["topk_equal"] else "DIFFER"}, ranks '
              f'{"identical" if cmp["ranks_equal"] else "DIFFER"}, '
              f'gt/tp counts '
              f'{"identical" if cmp["counts_equal"] else "DIFFER"}\n')
        rows.append([name, nq, f'{t_fast:.2f}',
                     f'{t_ref:.2f}' + ('' if sub is None else f' ({n_ref}q)'),
                     f'{per_q_ref / per_q_fast:.1f}x',
                     f'{cmp["ap_max_absdiff"]:.1e}',
                     'yes' if cmp['topk_equal'] and cmp['ranks_equal']
                     else 'NO'])
        del fast, ref
        gc.collect()
    print(F.format_table(['set', 'queries', 'vectorised s', 'reference s',
                          'speed-up/query', 'AP max|diff|',
                          'top-k/ranks equal'], rows))


if __name__ == '__main__':
    main()
