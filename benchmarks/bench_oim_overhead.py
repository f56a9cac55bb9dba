"""Benchmark: cost of OIM's identity branch over a plain Faster R-CNN.

Builds the OIM model of a config and the same detector without the identity
branch and the OIM loss: mmdet's ``FasterRCNN`` with a ``StandardRoIHead``
holding the very same backbone, RPN, RoI extractor, conv5 shared head
(``ResLayerC5``, i.e. mmdet's ``ResLayer`` plus the pooling that the
``BBoxHead`` expects) and box head; only ``reid_head`` is dropped. Faster
R-CNN gets a copy of OIM's weights (seeded, random; no pretrained weights
are loaded), so at inference both produce the same detections. They run on
the same synthetic batch (random pixels, a few random person boxes),
alternating model by model and iteration by iteration to cancel drift:
first inference (images/s through ``test_step``), then training
(iterations/s through ``train_step`` with the config's optim wrapper).
The overhead is OIM's time per step over Faster R-CNN's, minus 1 (goal:
under 15%).

The reference input is 900x1500 (H x W); the default here is 600x1000,
which CPUs run in reasonable time. With random weights most proposals pass
the test score threshold, so inference keeps up to ``max_per_img``
detections per image, each of which OIM embeds (a second pass of the conv5
head): ``--max-per-img`` sets a trained model's typical count instead.

Not a test (no assertions on time). Usage:

    python benchmarks/bench_oim_overhead.py [--config CONFIG | --tiny]
        [--height 600] [--width 1000] [--batch-size 2] [--num-iters 3]
        [--warmup 1] [--max-per-img N] [--device cpu]
"""
import argparse
import contextlib
import copy
import logging
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config, ConfigDict
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

REPO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..'))
DEFAULT_CONFIG = osp.join(REPO, 'configs/oim/oim_r50-c4_cuhk-sysu.py')
TINY_CONFIG = osp.join(REPO, 'configs/oim/oim_tiny_synthetic.py')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='OIM vs Faster R-CNN training / inference speed')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='OIM config (default: ResNet-50 C4 CUHK-SYSU)')
    parser.add_argument('--tiny', action='store_true',
                        help=f'use {osp.relpath(TINY_CONFIG, REPO)}')
    parser.add_argument('--height', type=int, default=600)
    parser.add_argument('--width', type=int, default=1000)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--num-iters', type=int, default=3,
                        help='timed iterations per model and phase')
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--max-per-img', type=int, default=None,
                        help='detections kept per image at test time '
                        '(default: the config value)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def drop_pretrained(cfg):
    """Recursively replace ``Pretrained`` init configs by None."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'init_cfg' and isinstance(value, dict) and \
                    value.get('type') == 'Pretrained':
                cfg[key] = None
            else:
                drop_pretrained(value)
    elif isinstance(cfg, list):
        for value in cfg:
            drop_pretrained(value)
    return cfg


def faster_rcnn_cfg(oim_cfg: ConfigDict) -> ConfigDict:
    """The OIM model config minus the identity branch and the OIM loss."""
    cfg = copy.deepcopy(oim_cfg)
    cfg.type = 'mmdet.FasterRCNN'
    cfg.roi_head.type = 'mmdet.StandardRoIHead'
    cfg.roi_head.pop('reid_head')
    cfg.test_cfg.rcnn.pop('cws', None)
    return cfg


def build_pair(oim_cfg: ConfigDict, seed: int,
               device: str) -> Dict[str, nn.Module]:
    """OIM (seeded random init) and the Faster R-CNN holding copies of
    all its weights but the identity branch's."""
    from mmqgn.registry import MODELS
    torch.manual_seed(seed)
    oim = MODELS.build(oim_cfg)
    with _quiet_logger():
        oim.init_weights()
    frcnn = MODELS.build(faster_rcnn_cfg(oim_cfg))
    missing, _ = frcnn.load_state_dict(oim.state_dict(), strict=False)
    assert not missing, f'Faster R-CNN weights not in OIM: {missing}'
    return {'Faster R-CNN': frcnn.to(device), 'OIM': oim.to(device)}


@contextlib.contextmanager
def _quiet_logger():
    """Hide the per-parameter INFO lines of ``init_weights``."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def make_batch(num_images: int, height: int, width: int, num_ids: int,
               seed: int) -> dict:
    """Random images (uint8, as the data loader gives them) with 3-6 random
    person boxes each (person labels in [-1, num_ids))."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(num_images):
        inputs.append(torch.randint(0, 256, (3, height, width),
                                    dtype=torch.uint8, generator=g))
        samples.append(_sample(i, height, width, num_ids, g))
    return dict(inputs=inputs, data_samples=samples)


def _sample(img_id: int, height: int, width: int, num_ids: int,
            g: torch.Generator) -> DetDataSample:
    n = int(torch.randint(3, 7, (1, ), generator=g))
    h = height * (0.3 + 0.5 * torch.rand(n, generator=g))
    w = h / 2.5
    x1 = (width - w) * torch.rand(n, generator=g)
    y1 = (height - h) * torch.rand(n, generator=g)
    boxes = torch.stack([x1, y1, x1 + w, y1 + h], dim=1)
    labels = torch.randint(-1, num_ids, (n, ), generator=g)
    sample = DetDataSample(metainfo=dict(
        img_id=img_id, img_shape=(height, width), ori_shape=(height, width),
        scale_factor=(1.0, 1.0), flip=False, is_query=False,
        query_ann_id=-1))
    sample.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(boxes), labels=torch.zeros(n).long(),
        person_labels=labels, person_ids=labels)
    return sample


def alternate(steps: Dict[str, callable], data: dict, warmup: int,
              num_iters: int, device: str) -> Dict[str, List[float]]:
    """Per model, the step times of ``num_iters`` iterations after
    ``warmup``; the models take turns, in alternating order."""
    names = list(steps)
    times = {name: [] for name in names}
    for it in range(warmup + num_iters):
        for name in (names if it % 2 == 0 else names[::-1]):
            batch = copy.deepcopy(data)
            _synchronize(device)
            start = time.perf_counter()
            steps[name](batch)
            _synchronize(device)
            if it >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def _synchronize(device: str) -> None:
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def inference_step(model: nn.Module, dets: List[float]):
    def step(data: dict) -> None:
        with torch.no_grad():
            results = model.test_step(data)
        dets.extend(len(r.pred_instances) for r in results)
    return step


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    config = TINY_CONFIG if args.tiny else args.config
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmqgn'))
    oim_cfg = drop_pretrained(copy.deepcopy(cfg.model))
    if args.max_per_img is not None:
        oim_cfg.test_cfg.rcnn.max_per_img = args.max_per_img
    models = build_pair(oim_cfg, args.seed, args.device)
    num_ids = oim_cfg.roi_head.reid_head.loss_reid.num_person_ids
    data = make_batch(args.batch_size, args.height, args.width, num_ids,
                      args.seed)

    dets = {name: [] for name in models}
    for model in models.values():
        model.eval()
    infer = alternate(
        {n: inference_step(m, dets[n]) for n, m in models.items()}, data,
        args.warmup, args.num_iters, args.device)

    wrappers = {n: build_optim_wrapper(m, copy.deepcopy(cfg.optim_wrapper))
                for n, m in models.items()}
    for model in models.values():
        model.train()
    train = alternate(
        {n: (lambda d, m=m, w=wrappers[n]: m.train_step(d, w))
         for n, m in models.items()}, data, args.warmup, args.num_iters,
        args.device)

    report = summarize(models, infer, train, dets, args.batch_size)
    print_table(report, config, args)
    return report


def summarize(models, infer, train, dets, batch_size) -> dict:
    """Mean step times -> rates, detections per image, overheads."""
    report = {}
    for name, model in models.items():
        t_inf = sum(infer[name]) / len(infer[name])
        t_train = sum(train[name]) / len(train[name])
        report[name] = dict(
            params_m=sum(p.numel() for p in model.parameters()) / 1e6,
            train_iter_per_s=1 / t_train,
            train_img_per_s=batch_size / t_train,
            infer_img_per_s=batch_size / t_inf,
            dets_per_img=sum(dets[name]) / max(len(dets[name]), 1),
            t_train=t_train, t_infer=t_inf)
    base, oim = report['Faster R-CNN'], report['OIM']
    report['overhead'] = dict(
        train=oim['t_train'] / base['t_train'] - 1,
        inference=oim['t_infer'] / base['t_infer'] - 1)
    return report


def print_table(report: dict, config: str, args) -> None:
    print(f'\nOIM vs Faster R-CNN: {osp.relpath(config, REPO)}, random '
          f'init, batch {args.batch_size} x {args.height}x{args.width} '
          f'(HxW), {args.device} ({torch.get_num_threads()} threads), mean '
          f'of {args.num_iters} iterations after {args.warmup} warm-up')
    print(f'{"model":<14}{"params(M)":>10}{"train it/s":>12}'
          f'{"train img/s":>13}{"infer img/s":>13}{"dets/img":>10}')
    for name in ('Faster R-CNN', 'OIM'):
        r = report[name]
        print(f'{name:<14}{r["params_m"]:>10.2f}{r["train_iter_per_s"]:>12.3f}'
              f'{r["train_img_per_s"]:>13.3f}{r["infer_img_per_s"]:>13.3f}'
              f'{r["dets_per_img"]:>10.1f}')
    ov = report['overhead']
    print(f'OIM overhead (time per step): training {ov["train"]:+.1%}, '
          f'inference {ov["inference"]:+.1%} (goal: < +15%)')


if __name__ == '__main__':
    main()
