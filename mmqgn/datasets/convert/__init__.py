"""Converters from the raw CUHK-SYSU and PRW releases to mmqgn's
standardized COCO-style annotations and retrieval sets
(``docs/data_format.md``; ``gfn_seqnext.md`` 5.2-5.3).

Only numpy, scipy, pillow and mmengine are needed.
"""
from .common import ConversionError, format_stats, iou_thresh
from .cuhk_sysu import convert_cuhk_sysu
from .prw import convert_prw

__all__ = [
    'ConversionError', 'convert_cuhk_sysu', 'convert_prw', 'format_stats',
    'iou_thresh'
]
