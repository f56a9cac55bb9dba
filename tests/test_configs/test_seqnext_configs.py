"""The SeqNeXt / SeqNeXt+GFN configs (gfn_seqnext.md §4, §6.5-6.9, decisions
9, 12-13, 17-18, 21): every file loads and names its table row, the
full-size models build (no weights loaded, nothing run), the final ``rrc2``
pipeline turns a synthetic scene into a 640x640 crop with exactly the boxes
the crop and the visibility filter keep, the schedule follows the digest,
and every ablation file differs from the baseline only in its row."""
import argparse
import copy
import glob
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.optim.scheduler import LinearLR, MultiStepLR
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmqgn.registry import DATASETS, MODELS, TRANSFORMS
from mmqgn.utils import register_all_modules

torch.set_num_threads(1)
register_all_modules()

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SEQNEXT = osp.join(ROOT, 'configs', 'seqnext')
ABL = osp.join(SEQNEXT, 'ablations')
BASELINE = osp.join(ABL, 'seqnext-gfn_baseline_prw.py')
CONFIGS = sorted(glob.glob(osp.join(SEQNEXT, '**', '*.py'), recursive=True))
TINY = osp.join(SEQNEXT, 'seqnext_tiny_synthetic.py')
#: (backbone, dataset) -> (optimizer, lr, weight decay, batch, OIM LUT, CQ);
#: PRW's LUT is None: sized from the training annotations before training
#: (OIMTableSizeHook; 483 for the standardized PRW)
FINAL = {
    ('convnext-b', 'cuhk-sysu'): ('Adam', 1e-4, 0.0, 8, 5532, 5000),
    ('convnext-b', 'prw'): ('Adam', 1e-4, 0.0, 8, None, 500),
    ('r50', 'cuhk-sysu'): ('SGD', 3e-3, 5e-4, 12, 5532, 5000),
    ('r50', 'prw'): ('SGD', 3e-3, 5e-4, 12, None, 500),
}
#: trainval scenes (Table 6), all annotated
TRAIN_SCENES = {'cuhk-sysu': 11206, 'prw': 5704}
MEAN = np.array([123.675, 116.28, 103.53])  # RGB
STD = np.array([58.395, 57.12, 57.375])


def _final(backbone, dataset, gfn):
    name = f"seqnext{'-gfn' if gfn else ''}_{backbone}_{dataset}.py"
    return osp.join(SEQNEXT, name)


def _no_init(cfg):
    """Drop every ``init_cfg`` (no checkpoint download)."""
    if isinstance(cfg, dict):
        for key in cfg:
            if key == 'init_cfg':
                cfg[key] = None
            else:
                _no_init(cfg[key])
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            _no_init(item)
    return cfg


def _flat(obj, prefix=''):
    """Nested dicts / lists -> {'a.b.0.c': leaf}."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)) and any(
            isinstance(v, (dict, list, tuple)) for v in obj):
        items = enumerate(obj)
    else:
        return {prefix[:-1]: obj}
    out = {}
    for key, value in items:
        out.update(_flat(value, f'{prefix}{key}.'))
    return out


def _diff(child, parent):
    """Flattened keys whose values differ (or exist on one side only)."""
    a, b = _flat(child.to_dict()), _flat(parent.to_dict())
    return {k for k in a.keys() | b.keys() if a.get(k, '?') != b.get(k, '?')}


def _crop_signature(pipeline):
    """The steps between WRS and flip, reduced to their parameters."""
    assert [t['type'] for t in pipeline[:3]] == [
        'LoadImageFromFile', 'LoadPersonSearchAnnotations', 'Resize']
    assert pipeline[2]['scale'] == (1500, 900) and pipeline[2]['keep_ratio']
    assert [t['type'] for t in pipeline[-2:]] == [
        'RandomFlip', 'PackPersonSearchInputs']
    assert pipeline[-2]['prob'] == 0.5
    sig = []
    for t in pipeline[3:-2]:
        if t['type'] == 'PadToMinSize':
            sig.append(('pad', t['min_size'], t['pad_val']))
        elif t['type'] == 'FilterByVisibility':
            sig.append(('vis', t['min_visibility']))
        elif t['type'] == 'RandomChoice':
            assert t['prob'] == [0.5, 0.5]
            sig.append(('choice', ) + tuple(
                (s[0]['type'], s[0]['crop_size']) for s in t['transforms']))
        else:
            sig.append((t['type'], t['crop_size']))
        if t['type'] == 'RandomSafeCrop' or t['type'] == 'RandomChoice':
            rsc = [t] if t['type'] == 'RandomSafeCrop' else [
                s[0] for s in t['transforms']
                if s[0]['type'] == 'RandomSafeCrop']
            assert all(r['erosion_rate'] == 0.1 for r in rsc)
    return tuple(sig)


MEAN_BGR = (104, 116, 124)


def _rrc(crop):
    return (('pad', crop, MEAN_BGR),
            ('choice', ('RandomFocusedCrop', crop), ('RandomSafeCrop', crop)),
            ('vis', 0.4))


def _rrc2(crop):
    return (('pad', 3 * crop, 0),
            ('choice', ('RandomFocusedCrop2', crop), ('RandomSafeCrop', crop)),
            ('vis', 0.6))


PIPELINE_KEYS = ('train_pipeline.', 'train_dataloader.dataset.pipeline.')
#: ablation row -> (changed keys and their values) or a crop signature
ROWS = {
    't4-none': {'model.gfn': None},
    't4-image': {'model.gfn.mode': 'image'},
    't4-base-batch': {'model.gfn.mode': 'base',
                      'model.gfn.query_mode': 'batch'},
    't4-base-proto': {'model.gfn.mode': 'base'},
    't4-comb-batch': {'model.gfn.query_mode': 'batch'},
    't8-wrs': (),
    't8-rsc': (('pad', 512, MEAN_BGR), ('RandomSafeCrop', 512), ('vis', 0.4)),
    't8-rfc': (('pad', 512, MEAN_BGR), ('RandomFocusedCrop', 512),
               ('vis', 0.4)),
    't8-rfc2': (('pad', 1536, 0), ('RandomFocusedCrop2', 512), ('vis', 0.6)),
    't8-rsc-rfc2': _rrc2(512),
    't8-crop256': _rrc(256),
    't8-crop384': _rrc(384),
    't8-crop640': _rrc(640),
    't9-pool14': {'model.gfn.pool_size': 14},
    't9-pool28': {'model.gfn.pool_size': 28},
    't9-pool112': {'model.gfn.pool_size': 112},
    't10-nolut': {'model.gfn.lut': None},
    't10-p1n0': {'model.gfn.lut.num_neg': 0},
    't10-p2n0': {'model.gfn.lut.num_pos': 2, 'model.gfn.lut.num_neg': 0},
    't10-p2n1': {'model.gfn.lut.num_pos': 2},
}
for _d in (128, 256, 512, 1024):
    ROWS[f't9-dim{_d}'] = {
        'model.roi_head.reid_head.embed_dim': _d,
        'model.roi_head.reid_head.loss_reid.embed_dim': _d
    }


# ----------------------------------------------------------------- files
@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_loads_and_names_its_table_row(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmqgn'
    assert cfg.model.type in ('SeqNeXt', 'SeqNeXtWithGFN')
    if 'tiny_synthetic' in path:
        return
    with open(path, encoding='utf-8') as f:
        first = f.readline()
    assert first.startswith('# ') and 'Table' in first, first


def test_every_ablation_row_has_a_file():
    files = {osp.basename(p) for p in glob.glob(osp.join(ABL, '*.py'))}
    assert files == {'seqnext-gfn_baseline_prw.py'} | {
        f'seqnext-gfn_{row}_prw.py' for row in ROWS}


# ---------------------------------------------------------------- models
@pytest.mark.parametrize('backbone', ['convnext-b', 'r50'])
@pytest.mark.parametrize('gfn', [False, True])
def test_final_models_build(backbone, gfn):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(_final(backbone, 'prw', gfn))
    model = MODELS.build(_no_init(cfg.model))
    c4, c5 = (512, 1024) if backbone == 'convnext-b' else (1024, 2048)
    head = model.roi_head.reid_head
    assert head.embed_dim == 2048
    assert head.proj_res4[0].in_features == c4
    assert head.proj_res5[0].in_features == c5
    # PRW: an empty table until the training set sizes it (483 rows for
    # the standardized PRW), 2048-d
    assert head.loss_reid.lut.shape == (0, 2048)
    head.loss_reid.set_num_person_ids(483)
    assert head.loss_reid.lut.shape == (483, 2048)
    assert model.rpn_head.num_base_priors == 15
    n_head = sum(p.numel() for p in model.roi_head.shared_head.parameters())
    n_prop = sum(p.numel()
                 for p in model.roi_head.prop_shared_head.parameters())
    assert n_head == n_prop
    assert getattr(model, 'with_gfn', False) == gfn
    if gfn:  # §3.2: deep copies of the person modules, final settings
        g = model.gfn
        assert (g.mode, g.query_mode, g.pool_size, g.beta,
                g.score_temperature, g.filter_neg) == ('combined', 'batch',
                                                       56, 0.2, 1.0, True)
        assert (g.lut.num_pos, g.lut.num_neg) == (1, 1)
        assert g.embed_dim == 2048
        assert sum(p.numel() for p in g.scene_head.parameters()) == n_head
        assert g.scene_head is not model.roi_head.shared_head
    if backbone == 'r50':  # decision 13
        model.train()
        bb = model.backbone
        assert not any(p.requires_grad for p in bb.conv1.parameters())
        assert not any(p.requires_grad for p in bb.layer1.parameters())
        assert all(p.requires_grad for p in bb.layer2[0].conv1.parameters())
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        assert bns and all(not m.training and not m.weight.requires_grad
                           for m in bns)


def test_ablation_baseline_builds_in_proto_mode():
    init_default_scope('mmqgn')
    model = MODELS.build(_no_init(Config.fromfile(BASELINE).model))
    assert model.gfn.query_mode == 'proto' and model.gfn.mode == 'combined'


@pytest.mark.parametrize('row', sorted(ROWS))
def test_ablation_gfn_and_dims_build_on_the_tiny_model(row):
    """The row's GFN / embedding settings are accepted by the modules (on
    the tiny synthetic SeqNeXt, so nothing large is built)."""
    abl = Config.fromfile(osp.join(ABL, f'seqnext-gfn_{row}_prw.py')).model
    cfg = Config.fromfile(TINY).model
    cfg.type = 'SeqNeXtWithGFN'
    cfg.gfn = abl.gfn
    dim = abl.roi_head.reid_head.embed_dim
    cfg.roi_head.reid_head.embed_dim = dim
    cfg.roi_head.reid_head.loss_reid.embed_dim = dim
    init_default_scope('mmqgn')
    model = MODELS.build(cfg)
    assert model.roi_head.reid_head.embed_dim == dim
    if abl.gfn is None:
        assert not model.with_gfn
        return
    assert model.gfn.embed_dim == dim
    assert (model.gfn.mode, model.gfn.query_mode,
            model.gfn.pool_size) == (abl.gfn.mode, abl.gfn.query_mode,
                                     abl.gfn.pool_size)
    lut = model.gfn.lut
    assert (None if lut is None else (lut.num_pos, lut.num_neg)) == (
        None if abl.gfn.lut is None else
        (abl.gfn.lut.num_pos, abl.gfn.lut.num_neg))


# -------------------------------------------------------------- ablations
@pytest.mark.parametrize('row', sorted(ROWS))
def test_ablation_differs_from_baseline_only_in_its_row(row):
    child = Config.fromfile(osp.join(ABL, f'seqnext-gfn_{row}_prw.py'))
    base = Config.fromfile(BASELINE)
    diff = _diff(child, base)
    expected = ROWS[row]
    if isinstance(expected, dict):
        flat = _flat(child.to_dict())
        prefixes = tuple(expected)
        assert diff and all(k.startswith(prefixes) for k in diff), diff
        for key, value in expected.items():
            got = flat.get(key, '?')
            assert got == value, (key, got)
        return
    assert diff and all(k.startswith(PIPELINE_KEYS) for k in diff), diff
    assert child.train_pipeline == child.train_dataloader.dataset.pipeline
    if row == 't8-wrs':
        assert child.train_pipeline == base.wrs_train_pipeline
        assert len(child.train_pipeline) == 5
    else:
        assert _crop_signature(child.train_pipeline) == expected


def test_baseline_differs_from_final_prw_in_crops_and_query_mode():
    base = Config.fromfile(BASELINE)
    final = Config.fromfile(_final('convnext-b', 'prw', True))
    diff = _diff(base, final)
    assert diff - {'model.gfn.query_mode'} and all(
        k.startswith(PIPELINE_KEYS + ('model.gfn.query_mode', ))
        for k in diff), diff
    assert (final.model.gfn.query_mode, base.model.gfn.query_mode) == (
        'batch', 'proto')
    assert _crop_signature(final.train_pipeline) == _rrc2(640)
    assert _crop_signature(base.train_pipeline) == _rrc(512)


@pytest.mark.parametrize('backbone', ['convnext-b', 'r50'])
@pytest.mark.parametrize('dataset', ['cuhk-sysu', 'prw'])
def test_gfn_configs_only_attach_the_gfn(backbone, dataset):
    gfn = Config.fromfile(_final(backbone, dataset, True))
    plain = Config.fromfile(_final(backbone, dataset, False))
    diff = _diff(gfn, plain)
    assert 'model.type' in diff
    assert all(k == 'model.type' or k.startswith('model.gfn') for k in diff)
    assert gfn.model.gfn == gfn.gfn_cfg


# --------------------------------------------------------------- schedule
@pytest.mark.parametrize('key', sorted(FINAL), ids='_'.join)
@pytest.mark.parametrize('gfn', [False, True])
def test_schedule_matches_the_digest(key, gfn):
    cfg = Config.fromfile(_final(*key, gfn))
    opt, lr, wd, batch, lut, queue = FINAL[key]
    ow = cfg.optim_wrapper
    assert ow.type == 'AmpOptimWrapper'
    assert ow.clip_grad == dict(max_norm=10, norm_type=2)
    assert (ow.optimizer.type, ow.optimizer.lr,
            ow.optimizer.weight_decay) == (opt, lr, wd)
    if opt == 'SGD':
        assert ow.optimizer.momentum == 0.9
    else:
        assert ow.optimizer.betas == (0.9, 0.999) and ow.optimizer.eps == 1e-8
    warm, steps = cfg.param_scheduler
    assert (warm.type, warm.start_factor, warm.by_epoch, warm.begin) == (
        'LinearLR', 1e-3, False, 0)
    # W = min(1000, iters_per_epoch - 1); mmengine reaches 1 at end - 1
    assert warm.end == min(1000, TRAIN_SCENES[key[1]] // batch - 1) + 1
    assert (steps.type, steps.milestones, steps.gamma, steps.by_epoch) == (
        'MultiStepLR', [15, 25], 0.1, True)
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval) == (30, 30)
    assert cfg.randomness.seed == 0
    loader = cfg.train_dataloader
    assert loader.batch_size == batch and loader.drop_last
    assert loader.batch_sampler is None and loader.sampler.shuffle
    assert cfg.test_dataloader.batch_size == 1
    assert [t['type'] for t in cfg.test_pipeline] == [
        'LoadImageFromFile', 'LoadPersonSearchAnnotations', 'Resize',
        'PackPersonSearchInputs']
    oim = cfg.model.roi_head.reid_head.loss_reid
    assert (oim.num_person_ids, oim.queue_size) == (lut, queue)
    pre = cfg.model.data_preprocessor  # decision 17
    assert (pre.mean, pre.std, pre.bgr_to_rgb, pre.pad_size_divisor) == (
        list(MEAN), list(STD), True, 32)


def test_lr_curve_warm_up_and_steps():
    """PRW ConvNeXt-B: 713 iterations per epoch, warm-up over W = 712 with
    the reference factor 1e-3 + 0.999 it / W, then x0.1 at 15 and 25."""
    cfg = Config.fromfile(_final('convnext-b', 'prw', True))
    cfg.merge_from_dict({'optim_wrapper.type': 'OptimWrapper'})  # no AMP
    ow = build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)
    assert type(ow).__name__ == 'OptimWrapper'
    assert ow.clip_grad_kwargs == dict(max_norm=10, norm_type=2)
    warm, steps = (dict(s) for s in cfg.param_scheduler)
    for s in (warm, steps):
        s.pop('type')
    warm, steps = LinearLR(ow, **warm), MultiStepLR(ow, **steps)
    lrs = {}
    for epoch in range(30):
        for it in range(713):
            lrs[(epoch, it)] = ow.get_lr()['lr'][0]
            warm.step()
        steps.step()
    assert lrs[(0, 0)] == pytest.approx(1e-7)
    assert lrs[(0, 356)] == pytest.approx(1e-4 * (1e-3 + 0.999 * 356 / 712))
    assert lrs[(0, 711)] == pytest.approx(1e-4 * (1e-3 + 0.999 * 711 / 712))
    assert lrs[(0, 711)] < 1e-4
    assert lrs[(0, 712)] == pytest.approx(1e-4)
    assert lrs[(1, 0)] == pytest.approx(1e-4)
    assert lrs[(14, 0)] == pytest.approx(1e-4)
    assert lrs[(15, 0)] == pytest.approx(1e-5)
    assert lrs[(24, 712)] == pytest.approx(1e-5)
    assert lrs[(25, 0)] == pytest.approx(1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU behaviour')
def test_amp_wrapper_needs_a_gpu_in_mmengine_0_10():
    """The config comment: on CPU the AmpOptimWrapper refuses to build
    (no CPU bf16 path), the documented override trains in fp32."""
    cfg = Config.fromfile(_final('convnext-b', 'cuhk-sysu', False))
    with pytest.raises(AssertionError, match='only available'):
        build_optim_wrapper(nn.Linear(2, 2), cfg.optim_wrapper)


# --------------------------------------------------------------- pipeline
def _dataset(cfg, root):
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.update(data_root=str(root) + '/', pipeline=[])
    return DATASETS.build(ds_cfg)


@pytest.mark.parametrize('branch', ['rfc2', 'rsc'])
def test_final_pipeline_crop_keeps_the_visible_boxes(synthetic_root, branch):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(_final('convnext-b', 'prw', True))
    steps = copy.deepcopy(cfg.train_pipeline)
    assert steps[4].type == 'RandomChoice'
    steps[4].prob = [1.0, 0.0] if branch == 'rfc2' else [0.0, 1.0]
    transforms = [TRANSFORMS.build(t) for t in steps]
    dataset = _dataset(cfg, synthetic_root / 'PRW')
    np.random.seed(0)
    for idx in range(3):
        results = copy.deepcopy(dataset[idx])
        for t in transforms[:5]:  # load, annotations, WRS, pad, crop
            results = t(results)
        assert results['img'].shape == (640, 640, 3)
        boxes = results['gt_bboxes'].numpy().copy()
        pids = results['gt_person_ids'].copy()
        labels = results['gt_person_labels'].copy()
        keep = results['gt_visibility'] >= 0.6
        if branch == 'rsc':  # eroded cores stay: >= 0.8^2 = 0.64 visible
            assert keep.all() and len(keep) == len(dataset[idx]['instances'])
        else:  # the focused known person is never clipped
            assert (labels[keep] >= 0).any()
        for t in transforms[5:]:  # visibility, flip, pack
            results = t(results)
        sample = results['data_samples']
        assert tuple(results['inputs'].shape) == (3, 640, 640)
        assert sample.img_shape == (640, 640)
        expected = boxes[keep]
        if sample.flip:
            expected[:, [0, 2]] = 640 - expected[:, [2, 0]]
        np.testing.assert_allclose(sample.gt_instances.bboxes.numpy(),
                                   expected, atol=1e-4)
        np.testing.assert_array_equal(sample.gt_instances.person_ids,
                                      pids[keep])
        np.testing.assert_array_equal(sample.gt_instances.person_labels,
                                      labels[keep])
        assert (expected >= 0).all() and (expected <= 640).all()


def test_train_loader_yields_640_crops(synthetic_root):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(_final('convnext-b', 'prw', False))
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.dataset.data_root = str(synthetic_root / 'PRW') + '/'
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader, seed=0)
    assert len(loader) == len(loader.dataset) // 2  # drop_last
    batch = next(iter(loader))
    assert [tuple(i.shape) for i in batch['inputs']] == [(3, 640, 640)] * 2


@pytest.mark.parametrize('mode,expected', [('rrc', 0.0), ('rrc2', None)])
def test_padding_colour_after_normalisation(mode, expected):
    """rrc pads with the mean colour (0 after normalisation), rrc2 with
    black (-mean / std)."""
    init_default_scope('mmqgn')
    cfg = Config.fromfile(_final('convnext-b', 'prw', False))
    pad = TRANSFORMS.build(cfg[f'{mode}_train_pipeline'][3])
    img = np.full((8, 8, 3), 255, np.uint8)
    out = pad(dict(img=img, img_shape=(8, 8)))['img']
    assert out.shape[0] == out.shape[1] >= 512
    pre = MODELS.build(cfg.model.data_preprocessor)
    x = pre(dict(inputs=[torch.from_numpy(out).permute(2, 0, 1)],
                 data_samples=None))['inputs'][0]
    corner = x[:, -1, -1].numpy()
    want = -MEAN / STD if expected is None else np.zeros(3)
    np.testing.assert_allclose(corner, want, atol=0.01)
    # padded centred (GFN code): both corners are padding, the 8x8 image
    # lies in the middle
    np.testing.assert_allclose(x[:, 0, 0].numpy(), want, atol=0.01)
    top = (out.shape[0] - 8) // 2
    np.testing.assert_allclose(x[:, top, top].numpy(), (255 - MEAN) / STD,
                               atol=1e-4)
    np.testing.assert_allclose(x[:, top + 7, top + 7].numpy(),
                               (255 - MEAN) / STD, atol=1e-4)


# ------------------------------------------------------------------ grid
def _grid_module():
    spec = importlib.util.spec_from_file_location(
        'grid', osp.join(ROOT, 'tools', 'misc', 'grid.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('options,rows', [
    (['model.gfn.pool_size=[14,28,112]'], ['t9-pool14', 't9-pool28',
                                          't9-pool112']),
    (['model.gfn.lut.num_pos=[1,2]', 'model.gfn.lut.num_neg=[0,1]'],
     ['t10-p1n0', None, 't10-p2n0', 't10-p2n1']),
    (['model.gfn.mode=base', 'model.gfn.query_mode=[batch,proto]'],
     ['t4-base-batch', 't4-base-proto']),
])
def test_grid_commands_reproduce_the_row_files(options, rows):
    """tools/misc/grid.py (decision 30): each grid point's --cfg-options on
    the baseline give the same config as the row's file."""
    grid = _grid_module()
    args = grid.parse_args([BASELINE, '--cfg-options', *options, '--',
                            '--amp'])
    cmds = grid.commands(args.config, args.cfg_options, 'wd',
                         args.train_args)
    assert len(cmds) == len(rows)
    work_dirs = [cmd[cmd.index('--work-dir') + 1] for cmd in cmds]
    assert len(set(work_dirs)) == len(cmds)
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    for cmd, row in zip(cmds, rows):
        assert cmd[1:3] == ['tools/train.py', BASELINE] and cmd[-1] == '--amp'
        start, end = cmd.index('--cfg-options'), len(cmd) - 1
        cfg = Config.fromfile(BASELINE)
        cfg.merge_from_dict(parser.parse_args(cmd[start:end]).cfg_options)
        want = BASELINE if row is None else osp.join(
            ABL, f'seqnext-gfn_{row}_prw.py')
        assert cfg.model.to_dict() == Config.fromfile(want).model.to_dict()


def test_grid_keeps_nested_lists_as_values():
    grid = _grid_module()
    combos = grid.expand({'a': [[15, 25], [10, 20]], 'b': None, 'c': 1})
    assert combos == [{'a': [15, 25], 'b': None, 'c': 1},
                      {'a': [10, 20], 'b': None, 'c': 1}]
    assert grid.format_value([15, 25]) == '[15,25]'
    assert grid.format_value((1, 'x')) == '(1,x)'
    assert grid.run_name({'model.gfn.lut': None}, ['model.gfn.lut']) == \
        'lut-None'
