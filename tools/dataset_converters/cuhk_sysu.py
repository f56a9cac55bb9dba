"""Convert the raw CUHK-SYSU release to mmqgn's standardized format.

Usage::

    python tools/dataset_converters/cuhk_sysu.py data/CUHK-SYSU [-o OUT]

Writes ``OUT/annotations/{trainval,train,val,test}.json`` and
``OUT/retrieval/*.json`` (``OUT`` defaults to the dataset root) and prints
the partition statistics. See ``docs/data_format.md``.
"""

import sys

from mmqgn.datasets.convert import convert_cuhk_sysu
from mmqgn.datasets.convert.common import converter_main


def main(argv=None) -> int:
    return converter_main(
        convert_cuhk_sysu, 'Convert raw CUHK-SYSU to mmqgn annotations',
        'dataset root (Image/, annotation/)', argv)


if __name__ == '__main__':
    sys.exit(main())
