"""The OIM lookup table sized from the converted annotations (issue 15
defect 3, gfn_seqnext.md decision 21): the synthetic PRW's trainval.json
records info.num_known_ids, PRWDataset exposes it, OIMTableSizeHook sizes a
``num_person_ids=None`` table before training; resume is exact, DDP keeps
the resized buffer, and wrong counts fail clearly."""
import json

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import Runner

from mmqgn.datasets import PRWDataset
from mmqgn.datasets.person_search import AnnotationError
from mmqgn.models import OIMLoss
from mmqgn.utils import register_all_modules
from two_ranks import run_two_ranks

register_all_modules(init_default_scope=False)
CONFIG = 'configs/oim/oim_tiny_synthetic.py'


def _known_ids(ann_file):
    with open(ann_file) as f:
        coco = json.load(f)
    pids = {a['person_id'] for a in coco['annotations']
            if a['person_id'] >= 0}
    return coco['info']['num_known_ids'], len(pids)


def test_prw_dataset_exposes_the_recorded_count(synthetic_root):
    root = synthetic_root / 'PRW'
    recorded, distinct = _known_ids(root / 'annotations' / 'trainval.json')
    assert recorded == distinct == 10  # conftest: prw_train_ids=10
    ds = PRWDataset(data_root=str(root), ann_file='annotations/trainval.json',
                    pipeline=[])
    assert ds.metainfo['num_person_ids'] == 10


def test_dataset_rejects_a_count_that_disagrees(synthetic_root, tmp_path):
    src = synthetic_root / 'PRW' / 'annotations' / 'trainval.json'
    with open(src) as f:
        coco = json.load(f)
    coco['info']['num_known_ids'] = 482
    bad = tmp_path / 'trainval.json'
    bad.write_text(json.dumps(coco))
    with pytest.raises(AnnotationError,
                       match=f'{bad}: info.num_known_ids is 482 but the '
                       'annotations hold 10 distinct known person ids'):
        PRWDataset(ann_file=str(bad), pipeline=[])


def _cfg(synthetic_root, work_dir, name, num_person_ids=None):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    ds = cfg.train_dataloader.dataset
    ds.type = 'PRWDataset'
    ds.data_root = str(synthetic_root / 'PRW') + '/'
    ds.ann_file = 'annotations/trainval.json'
    ds.indices = 2
    cfg.model.roi_head.reid_head.loss_reid.num_person_ids = num_person_ids
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2,
                         val_interval=100)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0)
    return cfg


def _oim(runner):
    model = getattr(runner.model, 'module', runner.model)
    return model.roi_head.reid_head.loss_reid


def test_runner_sizes_the_table_and_resumes_exactly(synthetic_root,
                                                    tmp_path):
    full = Runner.from_cfg(_cfg(synthetic_root, tmp_path / 'full', 'full'))
    assert _oim(full).num_person_ids == 0  # not sized before training
    full.train()
    assert _oim(full).lut.shape == (10, 256)
    assert (_oim(full).lut.norm(dim=1) > 0).any()  # written in training

    part_cfg = _cfg(synthetic_root, tmp_path / 'part', 'part')
    part_cfg.train_cfg.max_epochs = 1
    Runner.from_cfg(part_cfg).train()
    resumed_cfg = _cfg(synthetic_root, tmp_path / 'part', 'resumed')
    resumed_cfg.resume = True
    resumed_cfg.load_from = str(tmp_path / 'part' / 'epoch_1.pth')
    resumed = Runner.from_cfg(resumed_cfg)
    resumed.train()
    assert resumed.epoch == full.epoch == 2
    expected, actual = full.model.state_dict(), resumed.model.state_dict()
    assert set(expected) == set(actual)
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, msg=key)

    # a checkpoint with another table size: a clear error before training
    ckpt = torch.load(tmp_path / 'part' / 'epoch_1.pth', weights_only=False)
    key = 'roi_head.reid_head.loss_reid.lut'
    ckpt['state_dict'][key] = torch.zeros(482, 256)
    torch.save(ckpt, tmp_path / 'other.pth')
    other_cfg = _cfg(synthetic_root, tmp_path / 'other', 'other')
    other_cfg.load_from = str(tmp_path / 'other.pth')
    with pytest.raises(ValueError,
                       match='lookup table has 482 rows .from the loaded '
                       'checkpoint., but there are 10 known identities in '
                       'the training annotations'):
        Runner.from_cfg(other_cfg).train()


def test_config_count_too_small_fails_before_training(synthetic_root,
                                                      tmp_path):
    runner = Runner.from_cfg(
        _cfg(synthetic_root, tmp_path, 'small', num_person_ids=9))
    with pytest.raises(ValueError, match='lookup table has 9 rows '
                       r'\(num_person_ids of the config\), but there are 10 '
                       'known identities in the training annotations'):
        runner.train()


def test_unsized_table_fails_clearly():
    oim = OIMLoss(None, 4, embed_dim=2)
    assert oim.lut.shape == (0, 2)
    with pytest.raises(ValueError, match='never sized: add '
                       "dict.type='OIMTableSizeHook'"):
        oim(torch.zeros(1, 2), torch.tensor([0]))
    oim.set_num_person_ids(3)
    assert oim.lut.shape == (3, 2) and oim.num_person_ids == 3
    with pytest.raises(ValueError, match='has 3 rows'):
        oim.set_num_person_ids(4)  # a data-sized table never changes
    oim.set_num_person_ids(3)  # the same count: fine
    explicit = OIMLoss(5, 4, embed_dim=2)
    explicit.set_num_person_ids(3)  # more rows than identities: kept
    assert explicit.num_person_ids == 5


def test_unsized_table_takes_the_checkpoint_size():
    trained = OIMLoss(3, 2, embed_dim=2)
    trained.lut[1] = torch.tensor([0.6, 0.8])
    fresh = OIMLoss(None, 2, embed_dim=2)
    lut = fresh.lut
    fresh.load_state_dict(trained.state_dict())
    assert fresh.lut is lut  # same tensor object (DDP holds it)
    assert torch.equal(fresh.lut, trained.lut)


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)
        self.oim = OIMLoss(None, 0, embed_dim=2)

    def forward(self, x):
        return self.fc(x).sum()


def _ddp_worker(rank, port, results):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    ddp = DistributedDataParallel(_Net())  # wrapped before sizing
    oim = ddp.module.oim
    oim.set_num_person_ids(4)
    if rank == 0:
        oim.lut[2] = torch.tensor([0.6, 0.8])
    ddp(torch.ones(1, 2)).backward()  # broadcasts rank 0's buffers
    results[rank] = oim.lut.clone()
    dist.destroy_process_group()


def test_ddp_broadcasts_the_resized_table():
    """A table sized after the DDP wrap is broadcast from rank 0 like any
    buffer (torch's DDP re-reads the module's buffers before each sync;
    set_num_person_ids also keeps the tensor object, for wrappers that hold
    the old references)."""
    r0, r1 = run_two_ranks(_ddp_worker)
    expected = torch.zeros(4, 2)
    expected[2] = torch.tensor([0.6, 0.8])
    assert torch.equal(r0, expected) and torch.equal(r1, expected)


class _Dataset:
    """A training dataset without person identities (metainfo only)."""
    metainfo = dict(classes=('person', ))

    def full_init(self):
        pass


def test_dataset_without_a_count_fails_clearly():
    from types import SimpleNamespace

    from mmqgn.engine.hooks import OIMTableSizeHook
    runner = SimpleNamespace(
        model=_Net(), train_dataloader=SimpleNamespace(dataset=_Dataset()))
    with pytest.raises(ValueError, match=r"_Dataset\) exposes no "
                       r"metainfo\['num_person_ids'\]"):
        OIMTableSizeHook().before_train(runner)
    assert runner.model.oim.num_person_ids == 0
