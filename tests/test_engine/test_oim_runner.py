"""OIM training through MMEngine's Runner: 2-process DDP (gloo) keeps the
OIM tables identical on every rank, and resuming is exact."""

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmqgn.utils import register_all_modules, setup_cpu_distributed
from two_ranks import run_two_ranks, set_dist_env

register_all_modules(init_default_scope=False)
CONFIG = 'configs/oim/oim_tiny_synthetic.py'
OIM_BUFFERS = ('lut', 'queue', 'queue_ptr')


def _cfg(data_root, work_dir, name, **train_cfg) -> Config:
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name  # unique logger / message hub per runner
    cfg.train_dataloader.dataset.data_root = str(data_root) + '/'
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2,
                         val_interval=100, **train_cfg)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0)
    return cfg


def _oim(model):
    model = getattr(model, 'module', model)
    loss = model.roi_head.reid_head.loss_reid
    return {k: getattr(loss, k).clone() for k in OIM_BUFFERS}


def _small_subset(cfg, n):
    cfg.train_dataloader.dataset.indices = n


def _ddp_worker(rank, port, data_root, work_dir, results):
    set_dist_env(rank, port)
    cfg = _cfg(data_root, work_dir, f'ddp{rank}')
    _small_subset(cfg, 4)
    cfg.launcher = 'pytorch'
    setup_cpu_distributed(cfg)
    cfg.train_cfg.max_epochs = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    params = {k: v.detach().clone()
              for k, v in runner.model.module.named_parameters()}
    results[rank] = dict(oim=_oim(runner.model), params=params)


def test_ddp_two_processes_keep_oim_tables_identical(synthetic_root,
                                                      tmp_path):
    r0, r1 = map(dict, run_two_ranks(_ddp_worker,
                                     synthetic_root / 'CUHK-SYSU', tmp_path))
    for key in OIM_BUFFERS:
        assert torch.equal(r0['oim'][key], r1['oim'][key]), key
    written = r0['oim']['lut'].norm(dim=1) > 0
    assert written.sum() >= 2  # both ranks' identities reached the table
    # DDP averages gradients: the weights stay identical too (BN running
    # statistics are per rank, as with any DDP run without SyncBN)
    for key, value in r0['params'].items():
        torch.testing.assert_close(value, r1['params'][key], msg=key)


@pytest.mark.parametrize('stop_epoch', [1])
def test_resume_is_exact(synthetic_root, tmp_path, stop_epoch):
    data_root = synthetic_root / 'CUHK-SYSU'
    full_cfg = _cfg(data_root, tmp_path / 'full', 'full')
    _small_subset(full_cfg, 4)
    full = Runner.from_cfg(full_cfg)
    full.train()

    part_cfg = _cfg(data_root, tmp_path / 'part', 'part')
    _small_subset(part_cfg, 4)
    part_cfg.train_cfg.max_epochs = stop_epoch
    Runner.from_cfg(part_cfg).train()

    resumed_cfg = _cfg(data_root, tmp_path / 'part', 'resumed')
    _small_subset(resumed_cfg, 4)
    resumed_cfg.resume = True
    resumed_cfg.load_from = str(tmp_path / 'part' / f'epoch_{stop_epoch}.pth')
    resumed = Runner.from_cfg(resumed_cfg)
    resumed.train()

    assert resumed.epoch == full.epoch == 2
    expected, actual = full.model.state_dict(), resumed.model.state_dict()
    for key in OIM_BUFFERS:
        assert torch.equal(_oim(full.model)[key], _oim(resumed.model)[key])
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, msg=key)
