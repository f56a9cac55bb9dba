"""Convert the raw PRW release to mmqgn's standardized format.

Usage::

    python tools/dataset_converters/prw.py data/PRW [-o OUT]

Writes ``OUT/annotations/{trainval,train,val,test}.json`` and
``OUT/retrieval/*.json`` (``OUT`` defaults to the dataset root) and prints
the partition statistics. See ``docs/data_format.md``.
"""
import argparse
import sys

from mmqgn.datasets.convert import ConversionError, convert_prw, format_stats


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert raw PRW to mmqgn annotations')
    parser.add_argument(
        'root',
        help='dataset root (frames/, annotations/, frame_*.mat, '
        'query_info.txt)')
    parser.add_argument('-o', '--out-dir', default=None,
                        help='output folder (default: the dataset root)')
    parser.add_argument('--no-progress', action='store_true',
                        help='do not show progress bars')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        stats = convert_prw(args.root, args.out_dir,
                                  show_progress=not args.no_progress)
    except ConversionError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(format_stats(stats))
    return 0


if __name__ == '__main__':
    sys.exit(main())
