"""The larger synthetic configs (``*_tiny_synthetic-large.py``) are their
plain tiny configs with every loader and evaluator moved to
``data/synthetic_large``, training on its ``train`` partition (120 known
identities), and a schedule of about the same number of iterations."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LARGE = sorted(
    glob.glob(osp.join(REPO, 'configs', '*', '*synthetic-large.py')))
ROOT = 'data/synthetic_large/CUHK-SYSU/'
TWINS = [p for p in LARGE if osp.isfile(p.replace('-large.py', '.py'))]


def _large(method, name):
    return Config.fromfile(
        osp.join(REPO, 'configs', method, f'{name}_tiny_synthetic-large.py'))


def test_every_model_family_has_a_large_config():
    names = {osp.basename(p) for p in LARGE}
    assert {'oim_tiny_synthetic-large.py', 'qgn_tiny_synthetic-large.py',
            'seqnext_r50-w16_tiny_synthetic-large.py'} <= names


@pytest.mark.parametrize('path', TWINS, ids=osp.basename)
def test_large_config_moves_the_data_and_sizes_the_lut(path):
    cfg = Config.fromfile(path)
    plain = Config.fromfile(path.replace('-large.py', '.py'))
    loss_reid = cfg.model.roi_head.reid_head.loss_reid
    assert loss_reid.num_person_ids == 120
    plain.model.roi_head.reid_head.loss_reid.num_person_ids = 120
    assert cfg.model == plain.model
    assert cfg.optim_wrapper == plain.optim_wrapper
    train = cfg.train_dataloader.dataset
    assert (train.data_root, train.ann_file) == (ROOT, 'annotations/train.json')
    assert train.pipeline == plain.train_dataloader.dataset.pipeline
    assert cfg.test_dataloader.dataset.data_root == ROOT
    assert cfg.test_evaluator.ann_file == ROOT + 'annotations/test.json'
    assert cfg.test_evaluator.retrieval_sets == plain.test_evaluator.get(
        'retrieval_sets')


def test_large_qgn_starts_from_the_large_oim():
    qgn = _large('qgn', 'qgn')
    oim = _large('oim', 'oim')
    assert qgn.load_from == (
        f'work_dirs/oim_tiny_synthetic-large/epoch_{oim.train_cfg.max_epochs}.pth')
    assert qgn.train_dataloader.dataset.type == 'PersonSearchPairDataset'


def test_large_gfn_ablation_is_the_large_seqnext_plus_a_detached_gfn():
    gfn = _large('seqnext', 'seqnext-gfn-proto-detached_r50-w16')
    seq = _large('seqnext', 'seqnext_r50-w16')
    assert (gfn.model.type, seq.model.type) == ('SeqNeXtWithGFN', 'SeqNeXt')
    assert gfn.model.gfn.query_mode == 'proto'
    assert gfn.model.gfn_backbone_grad is False
    assert gfn.model.roi_head == seq.model.roi_head
    assert gfn.train_dataloader == seq.train_dataloader
    assert gfn.param_scheduler == seq.param_scheduler


def test_large_rrc2_seqnext_changes_only_the_training_pipeline():
    rrc2 = _large('seqnext', 'seqnext-rrc2_r50-w16')
    seq = _large('seqnext', 'seqnext_r50-w16')
    assert rrc2.model == seq.model
    assert rrc2.train_cfg == seq.train_cfg
    assert rrc2.test_dataloader == seq.test_dataloader
    train = rrc2.train_dataloader.dataset
    assert (train.data_root, train.ann_file) == (ROOT, 'annotations/train.json')
    # the paper's rrc2 (gfn_seqnext.md §4.2) with the crop scaled to 240
    types = [t['type'] for t in train.pipeline]
    assert types == [t['type'] for t in rrc2.rrc2_train_pipeline]
    pad, choice, vis = train.pipeline[3:6]
    assert pad.min_size == 3 * 240 and pad.pad_val == 0
    assert [t[0].crop_size for t in choice.transforms] == [240, 240]
    assert vis.min_visibility == 0.6
