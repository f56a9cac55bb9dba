"""Writing the raw release files: JPEG images, MATLAB v5 structs and cells.

The helpers build the numpy object / record arrays that ``scipy.io.savemat``
writes as the MATLAB types of the CUHK-SYSU and PRW releases, with the
shapes ``scipy.io.loadmat`` gives back for the released files.
"""
import os
import os.path as osp
from typing import Callable, Iterable, List, Optional, Sequence

import cv2
import numpy as np
from scipy.io import savemat

from .scene import OCCLUDED_BELOW

JPEG_QUALITY = 92

Progress = Callable[[Iterable, int, str], Iterable]


def write_jpeg(path: str, img: np.ndarray):
    """Write an RGB uint8 image as JPEG (quality ``JPEG_QUALITY``)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    ok = cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                     [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise IOError(f'cannot write {path}')


def save_mat(path: str, key: str, value):
    """A compressed MATLAB v5 file holding ``value`` under ``key``."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    savemat(path, {key: value}, do_compression=True)


def mat_structs(rows: Sequence[Sequence],
                fields: Sequence[str]) -> np.ndarray:
    """A 1 x N MATLAB struct array (numpy record array of objects)."""
    arr = np.empty((1, len(rows)), dtype=[(f, object) for f in fields])
    for i, row in enumerate(rows):
        for field, value in zip(fields, row):
            arr[field][0, i] = value
    return arr


def mat_cell(items: Sequence) -> np.ndarray:
    """An N x 1 MATLAB cell array."""
    arr = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        arr[i, 0] = item
    return arr


def mat_double(value) -> np.ndarray:
    """A 1 x N double row (a scalar gives 1 x 1)."""
    return np.array(value, dtype=np.float64).reshape(1, -1)


def mat_hard(person: dict) -> np.ndarray:
    """The ``ishard`` flag (1 x 1): the person is occluded."""
    return mat_double(float(person['visible'] < OCCLUDED_BELOW))


def render_all(records: List[dict], render: Callable, write: Callable,
               progress: Optional[Progress], name: str):
    """Render and write every record (in place: adds its people)."""
    items = progress(records, len(records), name) if progress else records
    for rec in items:
        img, rec['people'] = render(rec)
        write(rec, img)
