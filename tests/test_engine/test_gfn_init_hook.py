"""GFNHeadsFromDetectorHook: the GFN heads start from the loaded detector
heads in a fine-tuning run, and are left alone otherwise."""
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmqgn.engine.hooks import GFNHeadsFromDetectorHook
from mmqgn.registry import MODELS

torch.set_num_threads(1)
ROOT = osp.join(osp.dirname(__file__), '..', '..')


def _model():
    init_default_scope('mmqgn')
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/oim/oim_gfn_tiny_synthetic.py')).model
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    # a "loaded" detector: its heads differ from the GFN's copies
    with torch.no_grad():
        for p in list(model.roi_head.shared_head.parameters()) + list(
                model.roi_head.reid_head.parameters()):
            p.add_(torch.randn_like(p))
    return model


def _runner(model, resume=False, load_from='oim.pth'):
    return SimpleNamespace(
        model=model, _resume=resume, _load_from=load_from,
        logger=MMLogger.get_instance('test_gfn_init_hook'))


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    shared = [k for k in sb if k in sa]
    return bool(shared) and all(torch.equal(sa[k], sb[k]) for k in shared)


def test_copies_the_heads_after_load_from():
    model = _model()
    assert not _same(model.roi_head.shared_head, model.gfn.scene_head)
    GFNHeadsFromDetectorHook().before_train(_runner(model))
    assert _same(model.roi_head.shared_head, model.gfn.scene_head)
    assert _same(model.roi_head.reid_head, model.gfn.emb_head)
    # copies, not shared tensors
    p = next(model.gfn.scene_head.parameters())
    q = next(model.roi_head.shared_head.parameters())
    assert p.data_ptr() != q.data_ptr()


@pytest.mark.parametrize('resume,load_from', [(True, 'x.pth'),
                                              (False, None)])
def test_leaves_resumed_or_fresh_runs_alone(resume, load_from):
    model = _model()
    before = {k: v.clone() for k, v in model.gfn.state_dict().items()}
    GFNHeadsFromDetectorHook().before_train(
        _runner(model, resume, load_from))
    after = model.gfn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
