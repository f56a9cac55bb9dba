"""Benchmark: inference cost per gallery image of QGN against OIM
(qgn_qeeps.md §3.4, §9.2).

A query-guided model scores a gallery image only jointly with the query, so
every gallery image costs one pair forward (query stream included: with QSSE
the query features depend on the gallery), whereas OIM embeds each gallery
image once (gallery forward only; the query embedding is shared by the whole
gallery). Built from the ResNet-50 C4 configs with seeded random weights (no
checkpoint): QGN (``configs/qgn/qgn_r50-c4_cuhk-sysu.py``), the same QGN with
QSSE off, and OIM (``configs/oim/oim_r50-c4_cuhk-sysu.py``). Input: a
gallery frame of ``--height`` x ``--width`` (600 x 1000: the paper's 600-px
scale; 900 x 1500 for the best models) and, for QGN, a query frame of the
same size (decision T5: the full query frame, resized like the gallery, with
its person box). Runs alternate model by model and iteration by iteration.

Printed next to the paper's figure: QSSE adds about 50 % compute
(QGN Table 5, 229.91 -> 344.65, ResNet-18 few-shot). With random weights
nearly every proposal passes the score thresholds, so the proposal and
detection counts are set explicitly (``--proposals``, ``--max-per-img``;
the configs' test settings are 300 / 300) and equal for all models.

Not a test (no assertions on time). Usage:

    nice -n 10 python benchmarks/bench_qgn_cost.py [--height 600]
        [--width 1000] [--proposals 300] [--max-per-img 300]
        [--num-iters 2] [--warmup 1] [--threads 1] [--device cpu]
"""
import argparse
import logging
import os.path as osp
import time
from typing import Dict, Optional, Sequence

import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

REPO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
QGN_CONFIG = osp.join(REPO, 'configs/qgn/qgn_r50-c4_cuhk-sysu.py')
OIM_CONFIG = osp.join(REPO, 'configs/oim/oim_r50-c4_cuhk-sysu.py')
#: QGN Table 5: "runtime complexity" of OIM_R and OIM_R + QSSE
PAPER_QSSE = 344.65 / 229.91


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='QGN vs OIM inference cost per gallery image')
    parser.add_argument('--qgn-config', default=QGN_CONFIG)
    parser.add_argument('--oim-config', default=OIM_CONFIG)
    parser.add_argument('--height', type=int, default=600)
    parser.add_argument('--width', type=int, default=1000)
    parser.add_argument('--proposals', type=int, default=300,
                        help='RPN proposals kept per image (test)')
    parser.add_argument('--max-per-img', type=int, default=300,
                        help='detections kept per image (test)')
    parser.add_argument('--num-iters', type=int, default=2)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def build(path: str, args: argparse.Namespace, with_qsse=None):
    """A model of the config with seeded random weights, in eval mode."""
    from mmqgn.registry import MODELS
    cfg = Config.fromfile(path).model
    if with_qsse is not None:
        cfg.backbone.with_qsse = with_qsse
    cfg.backbone.init_cfg = None
    cfg.roi_head.shared_head.init_cfg = None
    cfg.test_cfg.rpn.max_per_img = args.proposals
    cfg.test_cfg.rcnn.update(max_per_img=args.max_per_img, score_thr=0.0)
    model = MODELS.build(cfg)
    torch.manual_seed(0)
    model.init_weights()
    return model.to(args.device).eval()


def sample(h: int, w: int, box=None) -> DetDataSample:
    """A data sample of an (h, w) input (no resize); ``box``: the query
    box of a query sample."""
    meta = dict(img_id=0, img_shape=(h, w), ori_shape=(h, w),
                pad_shape=(h, w), batch_input_shape=(h, w),
                scale_factor=(1.0, 1.0), is_query=box is not None,
                query_ann_id=0)
    ds = DetDataSample(metainfo=meta)
    if box is not None:
        ds.gt_instances = InstanceData(
            bboxes=HorizontalBoxes(torch.tensor([box], dtype=torch.float32)),
            labels=torch.zeros(1, dtype=torch.long),
            person_labels=torch.zeros(1, dtype=torch.long))
    return ds


def runs(args: argparse.Namespace) -> Dict[str, callable]:
    """name -> a callable running one gallery image through the model."""
    h, w = args.height, args.width
    gen = torch.Generator().manual_seed(0)
    gallery = torch.randn(1, 3, h, w, generator=gen).to(args.device)
    query = torch.randn(1, 3, h, w, generator=gen).to(args.device)
    box = [w * 0.45, h * 0.3, w * 0.55, h * 0.7]  # a standing person
    pair = torch.cat([query, gallery])
    models = {
        'QGN': build(args.qgn_config, args),
        'QGN without QSSE': build(args.qgn_config, args, with_qsse=False),
        'OIM': build(args.oim_config, args),
    }

    def pair_forward(model):
        return lambda: model.predict(pair, [sample(h, w, box),
                                            sample(h, w)])

    def gallery_forward(model):
        return lambda: model.predict(gallery, [sample(h, w)])

    return {
        name: (gallery_forward(m) if name == 'OIM' else pair_forward(m))
        for name, m in models.items()
    }


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


@torch.no_grad()
def main(argv: Optional[Sequence[str]] = None) -> dict:
    from mmqgn.utils import register_all_modules
    register_all_modules()
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    fns = runs(args)
    times = {name: [] for name in fns}
    for it in range(args.warmup + args.num_iters):
        for name, fn in fns.items():  # alternate models every iteration
            sync(args.device)
            start = time.perf_counter()
            fn()
            sync(args.device)
            if it >= args.warmup:
                times[name].append(time.perf_counter() - start)
    per_img = {name: min(t) for name, t in times.items()}
    report = dict(seconds_per_gallery_image=per_img,
                  qgn_over_oim=per_img['QGN'] / per_img['OIM'],
                  qsse_on_over_off=per_img['QGN'] /
                  per_img['QGN without QSSE'],
                  paper_qsse=PAPER_QSSE)
    print(f'{args.height}x{args.width} gallery (+ query frame of the same '
          f'size for QGN), ResNet-50 C4, random weights, {args.proposals} '
          f'proposals, <= {args.max_per_img} detections, {args.device}, '
          f'{args.threads} thread(s), best of {args.num_iters}')
    for name, sec in per_img.items():
        print(f'  {name:18s} {sec * 1e3:9.1f} ms per gallery image')
    print(f'QGN / OIM per gallery image: {report["qgn_over_oim"]:.2f}x')
    print(f'QSSE on / off (pair forward): {report["qsse_on_over_off"]:.2f}x '
          f'(paper, QGN Table 5: {PAPER_QSSE:.2f}x, i.e. ~+50 % compute)')
    return report


if __name__ == '__main__':
    main()
