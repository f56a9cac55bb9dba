"""Write a small synthetic person-search dataset in the raw CUHK-SYSU and
PRW release layouts (see ``mmqgn/datasets/synthetic/`` and
``docs/data_format.md`` section 1).

Example::

    python tools/misc/make_synthetic_dataset.py --out-dir data/synthetic
"""
import argparse
import sys

from mmengine.utils import ProgressBar

from mmqgn.datasets.synthetic import (DATASETS, DEFAULT_SIZES,
                                      make_synthetic_dataset)

STAT_ROWS = ('images', 'boxes', 'known_boxes', 'unlabeled_boxes',
             'occluded_boxes', 'identities', 'queries')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', default='data/synthetic',
                        help='output folder (gets CUHK-SYSU/ and PRW/)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (same seed, same dataset)')
    parser.add_argument('--datasets', nargs='+', choices=DATASETS,
                        default=list(DATASETS), help='datasets to write')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show progress bars')
    for name, value in DEFAULT_SIZES.items():
        parser.add_argument('--' + name.replace('_', '-'), type=int,
                            default=value, metavar='N',
                            help=f'{name.replace("_", " ")} '
                            f'(default: {value})')
    return parser.parse_args(argv)


def progress(items, total, name):
    """Wrap the image-writing loop in an mmengine progress bar."""
    print(f'{name}: writing {total} images')
    bar = ProgressBar(total)
    for item in items:
        yield item
        bar.update()
    sys.stdout.write('\n')


def format_stats(stats: dict) -> str:
    """A markdown table: one row per statistic, total/train/test columns."""
    lines = []
    for name, s in stats.items():
        lines += [f'{name}', '| | total | train | test |', '|---|---|---|---|']
        for key in STAT_ROWS:
            split = [s.get(f'{p}_{key}', '') for p in ('train', 'test')]
            if key == 'queries':
                split = ['', s[key]]
            lines.append(f'| {key} | {s[key]} | {split[0]} | {split[1]} |')
        if 'cameras' in s:
            lines.append(f'cameras: {s["cameras"]}')
        lines.append('')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    sizes = {name: getattr(args, name) for name in DEFAULT_SIZES}
    try:
        stats = make_synthetic_dataset(
            args.out_dir, seed=args.seed, datasets=args.datasets,
            progress=None if args.no_progress else progress, **sizes)
    except ValueError as err:  # impossible size options
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(format_stats(stats))
    print(f'written to {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
