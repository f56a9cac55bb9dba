"""Re-evaluate a dumped person-search results file offline.

    python tools/analysis_tools/eval_person_search.py RESULTS \\
        --data-root data/CUHK-SYSU [--sets G50 G100 ...] [--out-dir DIR]

RESULTS is a pickle (``.pkl``) or JSON file holding the results dict of
docs/data_format.md section 4::

    {'gallery': {image_id: {'bboxes', 'scores'[, 'embeddings']}},
     'queries': {ann_id: embedding},                      # embedding form
     'pairs': {(ann_id, image_id): {'bboxes', 'scores', 'sims'}}}  # pairs

In JSON the keys are strings; pair keys are written ``"ann_id,image_id"``
(or ``pairs`` is a list of records with ``ann_id`` and ``image_id``). A list
of per-sample dicts (mmdet ``DumpResults`` style, the samples
``PersonSearchMetric.process`` receives) is accepted too.

Default sets: CUHK-SYSU every gallery size present (G50 ... G4000, GFull);
PRW ``test``, ``same_cam``, ``cross_cam`` (those present); otherwise every
retrieval set of ``--retrieval-dir`` written for the annotation file.

Writes to ``--out-dir`` (default ``<RESULTS without extension>_eval``):
``metrics.csv`` / ``metrics.md`` (the table, also printed), ``cmc.csv``,
``cmc.png`` (top-k for k = 1..N) and ``map_vs_gallery_size.png``, plus
``per_query.person_search.json`` with per-query APs and ranks.
"""
import argparse
import csv
import glob
import os
import os.path as osp
import pickle

import numpy as np

import mmqgn.evaluation.functional as F
from mmqgn.structures import (PersonSearchAnnotations, records_to_results,
                              sample_to_record)
from mmqgn.utils.json_io import CONVERTER_FIX, RESULTS_FIX, load_json

CUHK_SETS = ('G50', 'G100', 'G500', 'G1000', 'G2000', 'G4000', 'GFull')
PRW_SETS = ('test', 'same_cam', 'cross_cam')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Evaluate a person-search results file (retrieval mAP / '
        'top-k / CMC per gallery set, detection AP / recall).')
    p.add_argument('results', help='results file (.pkl or .json)')
    p.add_argument('--data-root', required=True,
                   help='converted dataset root (annotations/, retrieval/)')
    p.add_argument('--ann-file', help='annotation JSON (default '
                   '<data-root>/annotations/test.json)')
    p.add_argument('--retrieval-dir',
                   help='default <data-root>/retrieval')
    p.add_argument('--sets', nargs='+', help='retrieval set names or paths')
    p.add_argument('--out-dir', help='output folder (default <results>_eval)')
    p.add_argument('--det-thresh', type=float, default=0.5)
    p.add_argument('--corrected', action='store_true',
                   help='corrected protocol instead of the legacy quirks')
    p.add_argument('--topk', type=int, nargs='+', default=[1, 5, 10])
    p.add_argument('--cmc-max-k', type=int, default=100,
                   help='CMC curve up to this k')
    p.add_argument('--mode', choices=['auto', 'embedding', 'pair'],
                   default='auto')
    p.add_argument('--no-det', action='store_true',
                   help='skip the detection metrics')
    p.add_argument('--no-plots', action='store_true')
    p.add_argument('--gfn-thr', type=float, default=None,
                   help='GFN filter threshold for the filtered metrics '
                   '(default: the 99%%-recall threshold of each set, an '
                   'oracle; calibrate on val and pass it here)')
    p.add_argument('--gfn-recall', type=float, default=0.99,
                   help='recall of matching scenes for the GFN threshold')
    return p.parse_args(argv)


def load_results(path, F, det_thresh):
    """Results dict from a pickle / JSON file (dict or list of samples)."""
    if path.endswith('.json'):
        data = load_json(path, RESULTS_FIX)
    else:
        with open(path, 'rb') as f:
            data = pickle.load(f)
    if isinstance(data, (list, tuple)):
        data = records_to_results(
            [sample_to_record(s, det_thresh) for s in data])
    if not isinstance(data, dict):
        raise TypeError(f'{path}: expected a dict or a list of samples, got '
                        f'{type(data).__name__}')
    return data


def default_sets(retrieval_dir, ann_file, dataset):
    present = {osp.splitext(osp.basename(p))[0]: p
               for p in glob.glob(osp.join(retrieval_dir, '*.json'))}
    names = {'CUHK-SYSU': CUHK_SETS, 'PRW': PRW_SETS}.get(dataset, ())
    found = [n for n in names if n in present]
    if found:
        return found
    out = []
    for name, path in sorted(present.items()):
        set_ann = load_json(path, CONVERTER_FIX).get('ann_file')
        if not set_ann or osp.basename(set_ann) == osp.basename(ann_file):
            out.append(name)
    return out


def write_table(details, args, out_dir, F):
    topk = tuple(args.topk)
    header = ['set', 'queries', 'gallery size', 'mAP'] + \
        [f'top-{k}' for k in topk]
    if args.corrected:
        header.append('excluded')
    rows = []
    for key, res in details.items():
        if key.startswith('det'):
            continue
        row = [key, res.num_queries, f"{res.extra['gallery_size']:.1f}",
               f'{100 * res.mAP:.2f}'] + \
            [f'{100 * res.top(k):.2f}' for k in topk]
        if args.corrected:
            row.append(res.num_excluded)
        rows.append(row)
    det_rows = []
    if 'det' in details:
        for name, key in (('all', 'det'), ('labeled', 'det_labeled')):
            d = details[key]
            det_rows.append([name, d['num_images'], d['num_gt'],
                             f"{100 * d['ap']:.2f}",
                             f"{100 * d['recall']:.2f}"])
    det_header = ['detection', 'images', 'GT', 'AP', 'recall']
    text = F.format_table(header, rows) if rows else ''
    if det_rows:
        text += '\n\n' + F.format_table(det_header, det_rows)
    with open(osp.join(out_dir, 'metrics.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(out_dir, 'metrics.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
        if det_rows:
            w.writerow([])
            w.writerow(det_header)
            w.writerows(det_rows)
    return text


def write_cmc(details, max_k, out_dir):
    sets = [(k, r) for k, r in details.items() if not k.startswith('det')]
    with open(osp.join(out_dir, 'cmc.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['k'] + [k for k, _ in sets])
        curves = [r.cmc(max_k) for _, r in sets]
        for i in range(max_k):
            w.writerow([i + 1] + [f'{c[i]:.6f}' for c in curves])
    return sets, curves


def plot(sets, curves, max_k, out_dir):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ks = np.arange(1, max_k + 1)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for (name, _), c in zip(sets, curves):
        ax.plot(ks, 100 * c, label=name)
    ax.set_xscale('log')
    ax.set_xlabel('k')
    ax.set_ylabel('top-k accuracy (%)')
    ax.set_title('CMC')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'cmc.png'), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    sizes = [r.extra['gallery_size'] for _, r in sets]
    maps = [100 * r.mAP for _, r in sets]
    top1 = [100 * r.top(1) for _, r in sets]
    order = np.argsort(sizes)
    ax.plot(np.array(sizes)[order], np.array(maps)[order], 'o-', label='mAP')
    ax.plot(np.array(sizes)[order], np.array(top1)[order], 's--',
            label='top-1')
    for (name, _), x, y in zip(sets, sizes, maps):
        ax.annotate(name, (x, y), textcoords='offset points', xytext=(3, 4),
                    fontsize='small')
    ax.set_xscale('log')
    ax.set_xlabel('gallery size (images per query, mean)')
    ax.set_ylabel('%')
    ax.set_title('mAP / top-1 vs gallery size')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(osp.join(out_dir, 'map_vs_gallery_size.png'), dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    ann_file = args.ann_file or osp.join(args.data_root, 'annotations',
                                         'test.json')
    retrieval_dir = args.retrieval_dir or osp.join(args.data_root,
                                                   'retrieval')
    out_dir = args.out_dir or osp.splitext(args.results)[0] + '_eval'
    os.makedirs(out_dir, exist_ok=True)

    anns = PersonSearchAnnotations(ann_file)
    dataset = anns.info.get('dataset') or osp.basename(
        osp.normpath(args.data_root))
    sets = args.sets or default_sets(retrieval_dir, ann_file, dataset)
    if not sets:
        raise SystemExit(f'no retrieval set found in {retrieval_dir}')
    print(f'{dataset}: evaluating {", ".join(sets)} '
          f'({"corrected" if args.corrected else "legacy"} protocol)')
    results = load_results(args.results, F, args.det_thresh)
    loaded = F.load_retrieval_sets(sets, anns, ann_file, retrieval_dir)
    metrics, details = F.evaluate_person_search(
        results, ann_file, loaded, det_thresh=args.det_thresh,
        legacy=not args.corrected, topk=tuple(args.topk),
        eval_detection=not args.no_det, mode=args.mode, progress=True,
        return_details=True, annotations=anns, print_table=False,
        outfile_prefix=osp.join(out_dir, 'per_query'),
        gfn_thr=args.gfn_thr, gfn_recall=args.gfn_recall)
    for key, rset in loaded:
        sizes = np.array([np.unique(rset.gallery_image_ids(q)).size
                          for q in range(len(rset))])
        details[key].extra['gallery_size'] = float(sizes.mean()) \
            if sizes.size else 0.0
    text = write_table(details, args, out_dir, F)
    print(text)
    max_k = max(1, args.cmc_max_k)
    sets_, curves = write_cmc(details, max_k, out_dir)
    if not args.no_plots and sets_:
        plot(sets_, curves, max_k, out_dir)
    print(f'written to {out_dir}')
    return metrics


if __name__ == '__main__':
    main()
