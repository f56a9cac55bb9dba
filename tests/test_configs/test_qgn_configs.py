"""The QGN / QEEPS configs (qgn_qeeps.md §8, §12, §13): every file loads and
its ResNet-50 model builds (no weights loaded, nothing run), the ablation
files switch exactly the modules their names say, and the parameter counts
of QSSE and the QRPN attention match the digest's arithmetic (§13)."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

from mmqgn.registry import MODELS
from mmqgn.utils import register_all_modules

torch.set_num_threads(1)
register_all_modules()

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = sorted(
    p for d in ('qgn', 'qeeps')
    for p in glob.glob(osp.join(ROOT, 'configs', d, '*.py'))
    if '_tiny_' not in osp.basename(p))  # the paper (R50) configs
MODULES = ('qsse', 'qrpn', 'qsimnet')
#: QSSE weights of the 13 bottlenecks of res2-res4, 3 C^2 / 8 each (§13.1)
QSSE_R50_C4 = 2_826_240


def _load(path):
    cfg = Config.fromfile(path)
    cfg.model.backbone.init_cfg = None
    cfg.model.roi_head.shared_head.init_cfg = None
    cfg.load_from = None
    return cfg


def _switches(cfg):
    return (cfg.model.backbone.with_qsse, cfg.model.with_qrpn,
            cfg.model.with_qsimnet)


def _name(path):
    return osp.basename(path)[:-3]


@pytest.fixture(scope='module')
def models():
    """Built models, memoised by path (each R50 is built once)."""
    return {}


def _model(models, path):
    if path not in models:
        models[path] = MODELS.build(_load(path).model)
    return models[path]


def test_the_expected_files_exist():
    names = {_name(p) for p in CONFIGS}
    assert {'qgn_r50-c4_cuhk-sysu', 'qgn_r50-c4_prw',
            'qeeps_r50-c4_cuhk-sysu', 'qeeps_r50-c4_prw'} <= names
    table7 = {n for n in names if n.startswith('qgn_r50-c4_600_cuhk-sysu_')}
    assert len(table7) == 7  # the 7 rows of QGN Table 7 below QGN itself
    table1 = {n for n in names if n.startswith('qeeps_r50-c4_600_cuhk-sysu_')}
    assert len(table1) == 3


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_config_loads_and_builds(path, models):
    cfg = _load(path)
    first = open(path).readline()
    assert first.startswith('# Reproduces '), 'say what it reproduces'
    assert re.search(r'expected[\s#]*(G\d+ )?\d+\.\d', open(path).read())
    model = _model(models, path)
    assert type(model).__name__ == 'QGN'
    with_qsse, with_qrpn, with_qsimnet = _switches(cfg)
    assert model.with_qrpn == with_qrpn
    assert model.with_qsimnet == with_qsimnet
    assert model.backbone.with_qsse == with_qsse
    assert model.backbone.depth == 50
    # training recipe (§8.1, T1, T2, T4)
    qeeps = _name(path).startswith('qeeps')
    assert cfg.train_cfg.max_epochs == (2 if qeeps else 4)
    (step, ) = cfg.param_scheduler[0].milestones
    assert step == cfg.train_cfg.max_epochs // 2
    assert cfg.optim_wrapper.optimizer.lr == 1e-3
    ds = cfg.train_dataloader.dataset
    assert ds.type == 'PersonSearchPairDataset' and ds.flip_doubling
    prw = 'prw' in _name(path)
    assert ds.pairs_per_query == (3 if prw else None)
    # test: the query-major loop, PRW-mini / CUHK-SYSU G100 (E1)
    assert cfg.test_cfg.type == 'QueryMajorTestLoop'
    assert cfg.test_cfg.retrieval_set == ('mini' if prw else 'G100')
    assert cfg.test_evaluator.retrieval_sets == [cfg.test_cfg.retrieval_set]
    assert cfg.test_cfg.retrieval_set in \
        cfg.test_dataloader.dataset.retrieval_sets
    if prw:
        assert 'PairResampleHook' in [h.type for h in cfg.custom_hooks]


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_paper_settings(path):
    cfg = Config.fromfile(path)
    name = _name(path)
    # ImageNet init kept for users, stage 2 from the stage-1 OIM work dir
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    dataset = 'prw' if 'prw' in name else 'cuhk-sysu'
    assert cfg.load_from == f'work_dirs/oim_r50-c4_{dataset}/epoch_22.pth'
    oim = Config.fromfile(
        osp.join(ROOT, f'configs/oim/oim_r50-c4_{dataset}.py'))
    assert cfg.model.roi_head.reid_head == oim.model.roi_head.reid_head
    assert cfg.model.roi_head.bbox_roi_extractor == \
        oim.model.roi_head.bbox_roi_extractor
    assert oim.train_cfg.max_epochs == 22  # -> epoch_22.pth
    resize = [t for t in cfg.train_dataloader.dataset.pipeline
              if t.type == 'Resize'][0]
    test_resize = [t for t in cfg.test_dataloader.dataset.pipeline
                   if t.type == 'Resize'][0]
    scale = (1000, 600) if '_600_' in name else (1500, 900)
    assert tuple(resize.scale) == tuple(test_resize.scale) == scale
    batch = 1 if name.startswith('qeeps') or '_600_' in name else 2
    assert cfg.train_dataloader.batch_size == batch
    pool = 14 if name.startswith('qeeps') else 7
    assert cfg.model.qrpn_head.roi_layer.output_size == pool
    # 15 pedestrian anchors for RPN and QRPN (QEEPS §5.2)
    for head in (cfg.model.rpn_head, cfg.model.qrpn_head):
        assert head.anchor_generator.scales == [2, 4, 8, 16, 32]
        assert head.anchor_generator.ratios == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS if '_600_' in p], ids=_name)
def test_ablation_switches_follow_the_file_name(path):
    name = _name(path)
    suffix = name.split('_cuhk-sysu')[1].lstrip('_')
    on = set(suffix.split('-')) if suffix else set(MODULES)
    if suffix == 'oim':
        on = set()
    assert on <= set(MODULES)
    assert _switches(Config.fromfile(path)) == tuple(m in on
                                                     for m in MODULES)


def _qsse_weights(model):
    return sum(m.fc1.weight.numel() + m.fc2.weight.numel()
               for n, m in model.backbone.named_modules()
               if n.endswith('.qsse') and m is not None)


def test_parameter_counts_match_the_digest(models):
    cfg_dir = osp.join(ROOT, 'configs')
    qgn = _model(models, osp.join(cfg_dir, 'qgn/qgn_r50-c4_cuhk-sysu.py'))
    assert _qsse_weights(qgn) == QSSE_R50_C4  # §13.1
    assert sum(m is not None for n, m in qgn.backbone.named_modules()
               if n.endswith('.qsse')) == 13
    # QRPN attention, C = 1024, P = 7, r = 16 (§13.2)
    assert qgn.qrpn_head.fc1.weight.numel() == 3_211_264
    assert qgn.qrpn_head.fc2.weight.numel() == 65_536
    # RPN*: 3x3 conv 1024 -> 512, 1x1 -> 15 anchors, no regression (D5)
    assert tuple(qgn.qrpn_head.rpn_conv.weight.shape) == (512, 1024, 3, 3)
    assert qgn.qrpn_head.rpn_cls.out_channels == 15
    # QEEPS pools the query at 14x14: FC1 = 1024 * 196 * 64
    qeeps = _model(models,
                   osp.join(cfg_dir, 'qeeps/qeeps_r50-c4_cuhk-sysu.py'))
    assert qeeps.qrpn_head.fc1.weight.numel() == 12_845_056
    # without QSSE / QRPN / QSimNet nothing of them is built
    oim = _model(models,
                 osp.join(cfg_dir, 'qgn/qgn_r50-c4_600_cuhk-sysu_oim.py'))
    assert _qsse_weights(oim) == 0
    assert oim.qrpn_head is None and oim.roi_head.qsimnet is None
    # the Siamese OIM keeps the OIM's parameter names (stage-1 loading)
    ref = MODELS.build(
        _load(osp.join(cfg_dir, 'oim/oim_r50-c4_cuhk-sysu.py')).model)
    assert set(oim.state_dict()) == set(ref.state_dict())
    assert set(ref.state_dict()) < set(qgn.state_dict())


@pytest.mark.parametrize('name', ['qgn/qgn_r50-c4_prw.py',
                                  'qeeps/qeeps_r50-c4_cuhk-sysu.py'])
def test_datasets_build(name, synthetic_root):
    """The pair training set and the test set of the config, on the small
    synthetic data (layout of the named dataset)."""
    from mmqgn.registry import DATASETS, HOOKS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
    root = str(synthetic_root / ('PRW' if 'prw' in name else 'CUHK-SYSU'))
    train = DATASETS.build(dict(cfg.train_dataloader.dataset,
                                data_root=root))
    assert len(train) % 2 == 0 and train.flip_doubling
    item = train[len(train) - 1]  # a flipped copy
    assert item['data_samples']['query'].flip
    assert item['data_samples']['gallery'].flip
    test = DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=root))
    assert sum(test.get_data_info(i)['is_query']
               for i in range(len(test))) > 0
    for hook in cfg.custom_hooks:
        HOOKS.build(hook)
