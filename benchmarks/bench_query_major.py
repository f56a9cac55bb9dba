"""Benchmark: query-gallery pairs/s of ``QueryMajorTestLoop`` against the
naive one-pair-at-a-time loop over the same pairs (qgn_qeeps.md §9.2-§9.3).

A tiny random-initialised QGN (``configs/qgn/qgn_tiny_synthetic.py``,
``load_from`` None, seeded) scores the first ``--num-queries`` queries of a
retrieval set (default: G50 of the synthetic CUHK-SYSU test split in
``data/synthetic``) twice: with the query-major loop (the query decoded
once, galleries in batches of ``--gallery-batch-size`` pairs, decoded gallery
images in an LRU cache) and with ``naive=True`` (one pair per forward, both
images decoded for every pair). Each timed run starts from a fresh loop
(cold cache); with ``--rounds`` > 1 the two loops alternate. The per-pair
QSimNet scores of both must agree (max abs difference printed and asserted
<= ``--atol``, a correctness check; the timing is only reported).

Three variants run side by side (``--variants``): ``qsse``, the full QGN,
where every pair must run the whole Siamese network (QSSE couples the two
streams, §3.4); ``qrpn-qsimnet``, the "+QRPN+QSimNet" ablation, whose BaseNet
features the query-major loop computes once per image (§9.3 / E1: the query
once per query, galleries from an LRU cache), so that per pair QRPN, the RPN
and the RoI head run; and ``qsimnet``, the "+QSimNet" ablation, whose gallery
detections and embeddings it computes once per image, so that per pair only
QSimNet and the final NMS run.

Not a test. Usage (the machine may be shared: nice it):

    nice -n 10 python benchmarks/bench_query_major.py [--num-queries 3]
        [--retrieval-set G50] [--gallery-batch-size 8] [--rounds 1]
        [--threads 1] [--data-root data/synthetic/CUHK-SYSU]
        [--variants qsse qrpn-qsimnet qsimnet]
"""
import argparse
import logging
import os.path as osp
import tempfile
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

REPO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
DEFAULT_CONFIG = osp.join(REPO, 'configs/qgn/qgn_tiny_synthetic.py')
DEFAULT_DATA = osp.join(REPO, 'data/synthetic/CUHK-SYSU')
#: variant -> (``model.backbone.with_qsse``, ``model.with_qrpn``)
VARIANTS = {
    'qsse': (True, True),
    'qrpn-qsimnet': (False, True),
    'qsimnet': (False, False)
}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='query-major vs naive pair test loop (pairs/s)')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--data-root', default=DEFAULT_DATA,
                        help='converted CUHK-SYSU-layout dataset')
    parser.add_argument('--retrieval-set', default='G50')
    parser.add_argument('--num-queries', type=int, default=3)
    parser.add_argument('--gallery-batch-size', type=int, default=8)
    parser.add_argument('--cache-size', type=int, default=256,
                        help='images kept by the pipeline and feature caches')
    parser.add_argument('--rounds', type=int, default=1,
                        help='alternating timed runs of each loop')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (the machine may be shared)')
    parser.add_argument('--atol', type=float, default=1e-5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--variants', nargs='+', choices=VARIANTS,
                        default=list(VARIANTS))
    return parser.parse_args(argv)


def build_runner(args: argparse.Namespace, work_dir: str,
                 variant: str = 'qsse') -> Runner:
    """A test-only runner of the config on ``args.data_root`` with seeded
    random weights (no checkpoint); ``variant`` picks the modules."""
    from mmqgn.models.backbones.qsse_resnet import (QSSE, QSSEBasicBlock,
                                                    QSSEBottleneck)
    if not osp.isfile(osp.join(args.data_root, 'annotations/test.json')):
        raise FileNotFoundError(
            f'{args.data_root}/annotations/test.json not found: make the '
            'synthetic data (tools/misc/make_synthetic_dataset.py and '
            'tools/dataset_converters/cuhk_sysu.py) or pass --data-root')
    cfg = Config.fromfile(args.config)
    cfg.work_dir = work_dir
    cfg.load_from = None
    cfg.model.backbone.with_qsse, cfg.model.with_qrpn = VARIANTS[variant]
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = None
    cfg.param_scheduler = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    root = args.data_root.rstrip('/') + '/'
    rset = args.retrieval_set
    cfg.test_dataloader.dataset.update(data_root=root, retrieval_sets=[rset])
    cfg.test_evaluator.update(ann_file=root + 'annotations/test.json',
                              retrieval_sets=[rset])
    cfg.test_cfg.update(retrieval_set=rset,
                        gallery_batch_size=args.gallery_batch_size,
                        cache_size=args.cache_size,
                        feat_cache_size=args.cache_size)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10**6)
    cfg.custom_hooks = []
    cfg.log_level = 'WARNING'
    # a visualizer of its own (the default one is a process-wide instance
    # named 'visualizer', which would keep writing to this temporary dir)
    cfg.visualizer.update(name=f'bench_query_major_{osp.basename(work_dir)}',
                          vis_backends=[])
    runner = Runner.from_cfg(cfg)
    torch.manual_seed(args.seed)
    runner.model.init_weights()
    for m in runner.model.modules():  # tiny widths: no dead QSSE fc1s
        if isinstance(m, QSSE):
            torch.nn.init.constant_(m.fc1.bias, 0.1)
        # without QSSE's s ~ 0.5 the random residual branches overflow
        if isinstance(m, (QSSEBasicBlock, QSSEBottleneck)) and m.qsse is None:
            last = m.norm3 if isinstance(m, QSSEBottleneck) else m.norm2
            last.weight.data.mul_(0.5)
    runner.model.eval()
    runner.call_hook('before_test_epoch')  # hooks' per-epoch state
    return runner


def run_loop(runner: Runner, num_queries: int,
             naive: bool) -> Tuple[float, Dict[tuple, np.ndarray]]:
    """A fresh loop over the first queries -> (seconds, {(query ann id,
    image id): sims})."""
    from mmqgn.registry import LOOPS
    loop = LOOPS.build(
        dict(runner.cfg.test_cfg, naive=naive),
        default_args=dict(runner=runner,
                          dataloader=runner.cfg.test_dataloader,
                          evaluator=runner.cfg.test_evaluator))
    queries = range(min(num_queries, len(loop.rset)))
    start = time.perf_counter()
    samples = [s for q in queries for s in loop.run_query(q)]
    seconds = time.perf_counter() - start
    sims = {(s['query_ann_id'], s['img_id']): s['pred_instances']['sims']
            for s in samples if s['query_ann_id'] >= 0}
    return seconds, sims


def decode_seconds(runner: Runner, num_images: int = 10) -> float:
    """Mean pipeline time (decode, resize, pack) of one test image."""
    from mmqgn.registry import LOOPS
    loop = LOOPS.build(
        dict(runner.cfg.test_cfg, naive=True),
        default_args=dict(runner=runner,
                          dataloader=runner.cfg.test_dataloader,
                          evaluator=runner.cfg.test_evaluator))
    img_ids = list(loop.data.image_index)[:num_images]
    start = time.perf_counter()
    for img_id in img_ids:
        loop.data.load_gallery(img_id)
    return (time.perf_counter() - start) / len(img_ids)


def max_abs_diff(a: Dict[tuple, np.ndarray],
                 b: Dict[tuple, np.ndarray]) -> float:
    """Largest |a - b| over all pairs (inf if pairs or counts differ)."""
    if a.keys() != b.keys():
        return float('inf')
    diff = 0.0
    for key, sims in a.items():
        if sims.shape != b[key].shape:
            return float('inf')
        if sims.size:
            diff = max(diff, float(np.abs(sims - b[key]).max()))
    return diff


def bench_variant(args: argparse.Namespace, variant: str) -> dict:
    """Time both loops on one variant; print and return its report."""
    with tempfile.TemporaryDirectory() as work_dir:
        runner = build_runner(args, work_dir, variant)
        times = {True: [], False: []}
        sims = {}
        for _ in range(args.rounds):
            for naive in (False, True):
                seconds, sims[naive] = run_loop(runner, args.num_queries,
                                                naive)
                times[naive].append(seconds)
        decode = decode_seconds(runner)
    pairs = len(sims[False])
    rate = {naive: pairs / min(t) for naive, t in times.items()}
    diff = max_abs_diff(sims[False], sims[True])
    report = dict(pairs=pairs, query_major_pairs_per_s=rate[False],
                  naive_pairs_per_s=rate[True],
                  speedup=rate[False] / rate[True], max_abs_diff=diff,
                  decode_s_per_image=decode)
    naive_fwd = 1 / rate[True] - 2 * decode
    print(f'[{variant}] query-major loop: {rate[False]:8.2f} pairs/s; '
          f'naive loop: {rate[True]:8.2f} pairs/s; '
          f'speed-up {report["speedup"]:.2f}x (goal >= 3x on CPU)')
    print(f'  pipeline {decode * 1e3:.1f} ms/image; naive: '
          f'~{naive_fwd * 1e3:.0f} ms forward + {2 * decode * 1e3:.0f} ms '
          f'decoding per pair; query-major: {1e3 / rate[False]:.0f} ms per '
          f'pair; max |sims difference| {diff:.3g} (tolerance {args.atol})')
    assert diff <= args.atol, \
        f'{variant}: query-major and naive sims differ by {diff} > {args.atol}'
    return report


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Benchmark every variant; returns ``{variant: report}``."""
    from mmqgn.utils import register_all_modules
    register_all_modules()
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    print(f'{args.num_queries} queries of {args.retrieval_set}, gallery '
          f'batch {args.gallery_batch_size}, {args.threads} thread(s), best '
          f'of {args.rounds}')
    return {v: bench_variant(args, v) for v in args.variants}


if __name__ == '__main__':
    main()
