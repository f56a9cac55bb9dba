"""Convert the raw PRW release to mmqgn's standardized format.

Usage::

    python tools/dataset_converters/prw.py data/PRW [-o OUT]

Writes ``OUT/annotations/{trainval,train,val,test}.json`` and
``OUT/retrieval/*.json`` (``OUT`` defaults to the dataset root) and prints
the partition statistics. See ``docs/data_format.md``.
"""

import sys

from mmqgn.datasets.convert import convert_prw
from mmqgn.datasets.convert.common import converter_main


def main(argv=None) -> int:
    return converter_main(
        convert_prw, 'Convert raw PRW to mmqgn annotations',
        'dataset root (frames/, annotations/, frame_*.mat, '
        'query_info.txt)', argv)


if __name__ == '__main__':
    sys.exit(main())
