"""Calibrate the GFN filter threshold on the validation partition
(gfn_seqnext.md §3.7, §8.1 decision 3).

    python tools/analysis_tools/calibrate_gfn_threshold.py CONFIG CHECKPOINT \\
        [--recall 0.99] [--out thr.json] [--ann-file annotations/val.json] \\
        [--retrieval-set val] [--work-dir DIR] [--cfg-options key=value ...]

Runs the config's test loop (``TestLoop`` or ``QueryMajorTestLoop``) with
filtering off on the val partition instead of the test one: the test
dataloader keeps its pipeline and loader settings, its dataset and the
``PersonSearchMetric`` evaluator(s) get ``--ann-file`` (relative to the
dataset's ``data_root``) and the ``--retrieval-set`` (resolved in the
dataset's ``retrieval_dir``, default ``<data_root>/retrieval``), and a loop
with a ``retrieval_set`` (``QueryMajorTestLoop``) runs that set. The
shipped configs' own ``val_dataloader`` validates on ``test.json`` (the
usual practice during training), so it is not used.

The metric, run with ``gfn_recall=--recall``, gives the threshold
(``<set>/scene_thr<recall>``: over the set's pooled (query, gallery scene)
pairs, the positive scores sorted descending and the one at index
``floor(recall * #pos)``, :func:`mmqgn.evaluation.calibrate_gfn_threshold`)
and the fraction of non-matching scenes scoring below it
(``<set>/scene_npv<recall>``). The tool prints them with the options that
apply the threshold to a test run: ``model.test_cfg.gfn.filter_thr`` (the
model's two-phase search: ``QueryMajorTestLoop``, the demo and
``mmqgn.apis.search``) and ``test_evaluator.gfn_thr`` (the metric's
``filtered_*`` keys, which otherwise use the test set's own oracle
threshold). ``--out`` writes them to a JSON file.
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper

from mmqgn.evaluation.functional import load_retrieval_sets
from mmqgn.structures import (PersonSearchAnnotations, load_json,
                              resolve_retrieval_set)
from mmqgn.utils import register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Calibrate the GFN filter threshold on the val '
        'partition (the score keeping --recall of the matching scenes)')
    parser.add_argument('config', help='config of a model with a GFN')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--recall', type=float, default=0.99,
                        help='fraction of matching val scenes to keep')
    parser.add_argument('--out', help='write the result to this .json')
    parser.add_argument('--ann-file', default='annotations/val.json',
                        help='val partition, relative to the test '
                        "dataset's data_root (or absolute)")
    parser.add_argument('--retrieval-set', default='val',
                        help='retrieval set (name or path) of the val '
                        'partition')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, e.g. '
                        'key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm',
                                               'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if not 0.0 < args.recall <= 1.0:
        parser.error(f'--recall must be in (0, 1], got {args.recall}')
    if args.out is not None and not args.out.endswith('.json'):
        parser.error('--out must be a .json file')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _test_tool():
    """tools/test.py as a module (its ``build_cfg`` / ``build_runner``)."""
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'test.py')
    spec = importlib.util.spec_from_file_location('_mmqgn_tools_test', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class CalibrationError(ValueError):
    """The config cannot be calibrated (the message says why)."""


def check_gfn(cfg: Config, config: str) -> None:
    """Refuse a model without a Gallery Filter Network."""
    model = cfg.get('model') or {}
    if model.get('gfn') is None:
        raise CalibrationError(
            f'{config}: the model ({model.get("type")}) has no Gallery '
            'Filter Network (model.gfn is not set), so there is no GFN '
            'threshold to calibrate; use a config with a GFN, e.g. '
            'configs/oim/oim_gfn_tiny_synthetic.py')


def _evaluators(cfg: Config, config: str) -> List[Tuple[str, dict]]:
    """(cfg-options key, cfg) of every PersonSearchMetric test evaluator."""
    evaluator = cfg.get('test_evaluator')
    if isinstance(evaluator, dict) and 'metrics' in evaluator:
        raise CalibrationError(f'{config}: test_evaluator with "metrics" '
                               'is not supported; give the metric dict(s)')
    if isinstance(evaluator, (list, tuple)):
        found = [(f'test_evaluator.{i}', e) for i, e in enumerate(evaluator)]
    else:
        found = [('test_evaluator', evaluator)] if evaluator else []
    found = [(k, e) for k, e in found
             if e.get('type') == 'PersonSearchMetric']
    if not found:
        raise CalibrationError(f'{config}: test_evaluator has no '
                               'PersonSearchMetric (it gives the GFN scores)')
    return found


def val_partition(cfg: Config, config: str, ann_file: str,
                  retrieval_set: str) -> Tuple[str, str, str]:
    """(annotation path, retrieval dir, retrieval-set path) of the val
    partition, next to the test dataset's data; clear errors when the
    files are missing or are the test partition."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    if 'ann_file' not in dataset:
        raise CalibrationError(
            f'{config}: test_dataloader.dataset has no ann_file, so the '
            'config has no val partition to swap in')
    data_root = dataset.get('data_root') or ''
    ann_path = ann_file if osp.isabs(ann_file) else osp.join(
        data_root, ann_file)
    retrieval_dir = dataset.get('retrieval_dir') or osp.join(
        data_root, 'retrieval')
    set_path = resolve_retrieval_set(retrieval_set, ann_path, retrieval_dir)
    for path, what in ((ann_path, 'annotation file'),
                       (set_path, 'retrieval set')):
        if not osp.isfile(path):
            raise CalibrationError(
                f'{config}: no val partition: {what} {path} not found (the '
                'converters of tools/dataset_converters write '
                'annotations/val.json and retrieval/val.json; give '
                '--ann-file / --retrieval-set for another layout)')
    for _, evaluator in _evaluators(cfg, config):
        test_ann = evaluator.get('ann_file')
        if test_ann and osp.abspath(test_ann) == osp.abspath(ann_path):
            raise CalibrationError(
                f'{config}: {ann_path} is the test partition; calibrating '
                'on it is an oracle (gfn_seqnext.md §8.1 decision 3): give '
                'the val partition with --ann-file')
    return ann_path, retrieval_dir, set_path


def trained_on_val(cfg: Config, ann_path: str) -> int:
    """How many val images the training annotation file also holds (the
    papers train on trainval, which contains val)."""
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    while 'dataset' in dataset:  # wrappers (RepeatDataset, ...)
        dataset = dataset['dataset']
    train_ann = dataset.get('ann_file')
    if not train_ann:
        return 0
    train_path = train_ann if osp.isabs(train_ann) else osp.join(
        dataset.get('data_root') or '', train_ann)
    if not osp.isfile(train_path):
        return 0
    names = [{img['file_name'] for img in load_json(path)['images']}
             for path in (train_path, ann_path)]
    return len(names[0] & names[1])


def to_val(cfg: Config, config: str, ann_file: str, retrieval_set: str,
           recall: float) -> Tuple[str, str]:
    """Point the test loop, dataset and metric at the val partition, with
    GFN filtering off; returns (annotation path, retrieval-set path)."""
    ann_path, retrieval_dir, set_path = val_partition(
        cfg, config, ann_file, retrieval_set)
    dataset = cfg.test_dataloader.dataset
    dataset.ann_file = ann_file
    dataset.retrieval_sets = [retrieval_set]
    for _, evaluator in _evaluators(cfg, config):
        evaluator.update(ann_file=ann_path, retrieval_sets=[retrieval_set],
                         retrieval_dir=retrieval_dir, gfn_thr=None,
                         gfn_recall=recall, eval_detection=False,
                         outfile_prefix=None, results_file=None)
    loop = cfg.get('test_cfg') or {}
    if 'retrieval_set' in loop:  # QueryMajorTestLoop
        loop.update(retrieval_set=retrieval_set, resume_file=None)
    if 'gfn_thr' in loop:
        loop.gfn_thr = None
    if cfg.model.get('test_cfg') is not None:
        gfn = cfg.model.test_cfg.get('gfn') or ConfigDict()
        gfn.filter_thr = None
        cfg.model.test_cfg.gfn = gfn
    return ann_path, set_path


def read_threshold(metrics: dict) -> Tuple[float, float]:
    """(threshold, fraction of negative scenes below it) from the metric's
    ``<set>/scene_thr*`` and ``<set>/scene_npv*`` keys (one set)."""
    out = []
    for name in ('scene_thr', 'scene_npv'):
        keys = [k for k in metrics if k.rsplit('/', 1)[-1].startswith(name)]
        if len(keys) != 1:
            raise CalibrationError(
                f'expected one <set>/{name}* key in the metrics, got '
                f'{sorted(keys)}: the predictions carry no GFN outputs '
                '(gfn_query / scene_embedding or pair gfn_score)')
        out.append(float(metrics[keys[0]]))
    return out[0], out[1]


def pair_counts(ann_path: str, set_path: str, legacy: bool) -> dict:
    """Queries, (query, scene) pairs and matching pairs the threshold was
    computed over (legacy: every listed entry, else first listings)."""
    anns = PersonSearchAnnotations(ann_path)
    rset = load_retrieval_sets([set_path], anns, ann_path)[0][1]
    pos = rset.is_pos if legacy else rset.is_pos[rset.is_first]
    return dict(num_queries=len(rset), num_pairs=int(pos.size),
                num_positive=int(pos.sum()))


def cfg_options(thr: float, evaluator_keys: Sequence[str]) -> str:
    """The ``--cfg-options`` applying ``thr`` to a test run."""
    return ' '.join([f'model.test_cfg.gfn.filter_thr={thr!r}'] +
                    [f'{k}.gfn_thr={thr!r}' for k in evaluator_keys])


def report(result: dict) -> str:
    """Human-readable summary of a calibration."""
    return (f'GFN threshold keeping {100 * result["recall"]:g}% of the '
            f'matching val scenes: {result["threshold"]!r}\n'
            f'  over {result["num_pairs"]} (query, scene) pairs of '
            f'{result["num_queries"]} queries, {result["num_positive"]} '
            f'matching ({result["retrieval_set"]} of {result["ann_file"]})\n'
            f'  it removes {100 * result["negatives_removed"]:.1f}% of the '
            'non-matching val scenes\n'
            f'  use: --cfg-options {result["cfg_options"]}' +
            _seen_warning(result.get('val_images_seen_in_training', 0)))


def _seen_warning(num: int) -> str:
    if not num:
        return ''
    return (f'\nWARNING: the training annotation file holds {num} of the val '
            'images (trainval contains val), so the GFN has seen them and '
            'the threshold is optimistic (too high for unseen scenes): for '
            'an unbiased threshold train on the train partition')


def calibrate(args: argparse.Namespace) -> dict:
    """Run the val test loop and return the calibration result."""
    tool = _test_tool()
    register_all_modules(init_default_scope=False)
    cfg = tool.build_cfg(
        argparse.Namespace(config=args.config, checkpoint=args.checkpoint,
                           work_dir=args.work_dir, out=None,
                           cfg_options=args.cfg_options,
                           launcher=args.launcher))
    check_gfn(cfg, args.config)
    ann_path, set_path = to_val(cfg, args.config, args.ann_file,
                                args.retrieval_set, args.recall)
    evaluators = _evaluators(cfg, args.config)
    runner = tool.build_runner(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else \
        runner.model
    if not model.with_gfn:
        raise CalibrationError(f'{args.config}: {type(model).__name__} was '
                               'built without a GFN')
    thr, removed = read_threshold(runner.test())
    result = dict(threshold=thr, recall=args.recall,
                  negatives_removed=removed, ann_file=ann_path,
                  retrieval_set=args.retrieval_set, config=args.config,
                  checkpoint=args.checkpoint,
                  cfg_options=cfg_options(thr, [k for k, _ in evaluators]))
    result.update(pair_counts(ann_path, set_path,
                              evaluators[0][1].get('legacy', True)))
    result['val_images_seen_in_training'] = trained_on_val(cfg, ann_path)
    return result


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        result = calibrate(args)
    except CalibrationError as err:
        raise SystemExit(f'error: {err}') from None
    if is_main_process():
        print(report(result), flush=True)
        if args.out is not None:
            out_dir = osp.dirname(osp.abspath(args.out))
            os.makedirs(out_dir, exist_ok=True)
            with open(args.out, 'w') as f:
                json.dump(result, f, indent=2)
            print(f'written to {args.out}', flush=True)
    return result


if __name__ == '__main__':
    main()
