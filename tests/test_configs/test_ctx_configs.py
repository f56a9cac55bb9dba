"""The scene-context synthetic configs (``*_tiny_synthetic-ctx.py``) are
their plain tiny configs with every loader and evaluator moved to
``data/synthetic_ctx`` and training on the ``train`` partition."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CTX = sorted(glob.glob(osp.join(REPO, 'configs', '*', '*synthetic-ctx.py')))
ROOT = 'data/synthetic_ctx/CUHK-SYSU/'


def test_seqnext_with_and_without_gfn_have_ctx_configs():
    names = {osp.basename(p) for p in CTX}
    assert {'seqnext_r50-w16_tiny_synthetic-ctx.py',
            'seqnext-gfn_r50-w16_tiny_synthetic-ctx.py'} <= names


# the ctx configs that have a plain twin (the others are ctx-only ablations)
TWINS = [p for p in CTX if osp.isfile(p.replace('-ctx.py', '.py'))]


@pytest.mark.parametrize('path', TWINS, ids=osp.basename)
def test_ctx_config_moves_only_the_data(path):
    cfg = Config.fromfile(path)
    plain = Config.fromfile(path.replace('-ctx.py', '.py'))
    assert cfg.model == plain.model
    assert cfg.optim_wrapper == plain.optim_wrapper
    assert cfg.train_cfg == plain.train_cfg
    train = cfg.train_dataloader.dataset
    assert (train.data_root, train.ann_file) == (ROOT, 'annotations/train.json')
    assert train.pipeline == plain.train_dataloader.dataset.pipeline
    for loader in ('val_dataloader', 'test_dataloader'):
        dataset = cfg[loader].dataset
        assert dataset.data_root == ROOT
        assert dataset.ann_file == plain[loader].dataset.ann_file
    for evaluator in ('val_evaluator', 'test_evaluator'):
        assert cfg[evaluator].ann_file == ROOT + 'annotations/test.json'
        assert cfg[evaluator].retrieval_sets == plain[
            evaluator].get('retrieval_sets')


def test_proto_detached_ablation_keeps_the_gfn_loss_off_the_detector():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'seqnext',
                 'seqnext-gfn-proto-detached_r50-w16_tiny_synthetic-ctx.py'))
    paper = Config.fromfile(
        osp.join(REPO, 'configs', 'seqnext',
                 'seqnext-gfn_r50-w16_tiny_synthetic-ctx.py'))
    assert cfg.model.gfn_backbone_grad is False
    assert cfg.model.gfn.query_mode == 'proto'
    assert paper.model.get('gfn_backbone_grad', True) is True
    assert paper.model.gfn.query_mode == 'batch'
    assert cfg.train_dataloader == paper.train_dataloader
