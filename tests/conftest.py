"""Shared fixtures: a small synthetic dataset, generated and converted once.

``tests/`` goes on ``sys.path`` (pytest's default import mode does it for this
file too; done here so that it holds in every mode) for the test-data
builders of ``tests/fixtures`` (``from fixtures.search_problem import ...``).
"""
import os.path as osp
import sys

import pytest

from mmqgn.datasets.convert import convert_cuhk_sysu, convert_prw
from mmqgn.datasets.synthetic import make_synthetic_dataset

SMALL = dict(cuhk_train_ids=10, cuhk_test_ids=6, cuhk_train_scenes=24,
             cuhk_test_scenes=16, prw_train_ids=10, prw_test_ids=6,
             prw_train_frames=24, prw_test_frames=16)

if osp.dirname(osp.abspath(__file__)) not in sys.path:
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory):
    """Converted synthetic CUHK-SYSU and PRW; returns the folder holding
    ``CUHK-SYSU/`` and ``PRW/``."""
    root = tmp_path_factory.mktemp('synthetic')
    make_synthetic_dataset(str(root), seed=0, **SMALL)
    convert_cuhk_sysu(str(root / 'CUHK-SYSU'), show_progress=False)
    convert_prw(str(root / 'PRW'), show_progress=False)
    return root
