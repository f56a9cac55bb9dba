"""Checkpoints written before the detectors got one base class (commit
7651909: ``OIMWithGFN`` / ``SeqNeXtWithGFN`` / ``QGNWithGFN`` mixins) still
load: every config builds a model with exactly the state-dict keys and
shapes recorded from that commit (``tests/data/state_dict_keys_7651909.json``),
and such a state dict loads strictly."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmqgn.registry import MODELS
from mmqgn.utils import register_all_modules

register_all_modules(init_default_scope=True)
ROOT = osp.join(osp.dirname(__file__), '..', '..')
with open(osp.join(ROOT, 'tests/data/state_dict_keys_7651909.json')) as f:
    RECORDED = json.load(f)


def _build(path):
    cfg = Config.fromfile(osp.join(ROOT, path)).model
    cfg.pop('init_cfg', None)
    if 'backbone' in cfg:
        cfg.backbone.pop('init_cfg', None)
    return MODELS.build(cfg)


@pytest.mark.parametrize('path', sorted(RECORDED))
def test_state_dict_keys_unchanged(path):
    model = _build(path)
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert got == RECORDED[path]
    # a checkpoint of the old layout loads strictly
    old = {k: torch.zeros(shape) for k, shape in RECORDED[path].items()}
    for k, v in model.state_dict().items():
        old[k] = old[k].to(v.dtype)
    model.load_state_dict(old, strict=True)
