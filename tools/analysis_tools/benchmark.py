"""Inference and training speed of a config's model on its own data.

    python tools/analysis_tools/benchmark.py CONFIG [--checkpoint CKPT]
        [--task inference|train|both] [--num-iters N] [--warmup W]
        [--device cpu] [--cfg-options key=value ...]

Inference: gallery images of the test dataloader (its queries are left out)
through ``model.test_step``, in images/s. Training: batches of the train
dataloader through ``model.train_step`` with the config's optim wrapper, in
iterations/s (and images/s). Both are timed over ``--num-iters`` steps after
``--warmup`` untimed ones and count the model step only, not data loading.
Without ``--checkpoint`` the weights are random (no pretrained weights are
downloaded); a detector's speed then depends on how many boxes survive its
score threshold, so use a trained checkpoint for representative inference
numbers.
"""
import argparse
import copy
import itertools
import time
from typing import Callable, Iterable, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import Runner, load_checkpoint


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark inference and training speed')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--checkpoint', help='checkpoint to load')
    parser.add_argument('--task', choices=['inference', 'train', 'both'],
                        default='both')
    parser.add_argument('--num-iters', type=int, default=20,
                        help='timed steps')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed steps before timing')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config')
    args = parser.parse_args(argv)
    if args.num_iters < 1 or args.warmup < 0:
        parser.error('--num-iters must be >= 1 and --warmup >= 0')
    return args


def build_model(cfg: Config, checkpoint: Optional[str],
                device: str) -> nn.Module:
    """The config's model (random weights unless ``checkpoint``)."""
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device)


def gallery_loader_cfg(cfg: Config) -> dict:
    """The test dataloader config without the retrieval queries."""
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    if 'retrieval_sets' in loader_cfg.dataset:
        loader_cfg.dataset.retrieval_sets = []
    return loader_cfg


def time_steps(step: Callable[[dict], None], batches: Iterable[dict],
               warmup: int, num_iters: int,
               device: str) -> Tuple[float, int]:
    """Seconds spent in ``step`` over ``num_iters`` batches after
    ``warmup``, and the number of images of the timed batches."""
    batches = iter(batches)
    for _ in range(warmup):
        step(next(batches))
    seconds, images = 0.0, 0
    for _ in range(num_iters):
        data = next(batches)
        _synchronize(device)
        start = time.perf_counter()
        step(data)
        _synchronize(device)
        seconds += time.perf_counter() - start
        images += len(data['inputs'])
    return seconds, images


def _synchronize(device: str) -> None:
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def _cycle(loader: Iterable) -> Iterable:
    """Batches of ``loader``, restarted as often as needed."""
    return itertools.chain.from_iterable(itertools.repeat(loader))


def bench_inference(model: nn.Module, cfg: Config,
                    args: argparse.Namespace) -> float:
    """Gallery images per second through ``model.test_step``."""
    loader = Runner.build_dataloader(gallery_loader_cfg(cfg), seed=0)
    model.eval()

    def step(data: dict) -> None:
        with torch.no_grad():
            model.test_step(data)

    seconds, images = time_steps(step, _cycle(loader), args.warmup,
                                 args.num_iters, args.device)
    return images / seconds


def bench_train(model: nn.Module, cfg: Config,
                args: argparse.Namespace) -> Tuple[float, float]:
    """Training iterations and images per second (``model.train_step``)."""
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    seconds, images = time_steps(
        lambda data: model.train_step(data, optim_wrapper), _cycle(loader),
        args.warmup, args.num_iters, args.device)
    return args.num_iters / seconds, images / seconds


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark, print and return the figures."""
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmqgn'))
    model = build_model(cfg, args.checkpoint, args.device)
    print(f'{args.config} on {args.device} ({torch.get_num_threads()} CPU '
          f'threads), {args.num_iters} timed steps after {args.warmup} '
          'warm-up steps, model step time only')
    figures = {}
    if args.task in ('inference', 'both'):
        figures['inference_img_per_s'] = bench_inference(model, cfg, args)
        print(f'inference: {figures["inference_img_per_s"]:.2f} images/s')
    if args.task in ('train', 'both'):
        iters, images = bench_train(model, cfg, args)
        figures.update(train_iter_per_s=iters, train_img_per_s=images)
        print(f'training: {iters:.3f} iterations/s ({images:.2f} images/s, '
              f'batch size {cfg.train_dataloader.batch_size})')
    return figures


if __name__ == '__main__':
    main()
