"""Runner checkpoints load and resume under torch >= 2.6 (weights_only)."""
import subprocess
import sys

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.utils import digit_version
from torch.utils.data import Dataset

import mmqgn  # noqa: F401  (registers the checkpoint loader)


class ToyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        g = torch.Generator().manual_seed(idx)
        return dict(x=torch.randn(4, generator=g), y=torch.tensor(idx % 2.))


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.fc(x).squeeze(1)
        if mode == 'loss':
            return dict(loss=((out - y)**2).mean())
        return out


def _runner(work_dir, max_iters, resume=False, load_from=None):
    torch.manual_seed(0)  # the same initial weights for every run
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyData(),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=3,
                            by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        resume=resume,
        load_from=load_from,
        default_scope='mmengine',
        experiment_name=f'toy_{work_dir.name}_{max_iters}_{resume}')


@pytest.mark.skipif(
    digit_version(torch.__version__) < digit_version('2.6.0'),
    reason='weights_only is the torch.load default from torch 2.6 on')
def test_plain_torch_load_rejects_runner_checkpoint(tmp_path):
    _runner(tmp_path, 3).train()
    code = f'import torch; torch.load({str(tmp_path / "iter_3.pth")!r})'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True)
    assert proc.returncode != 0 and 'weights_only' in proc.stderr


def test_resume_matches_uninterrupted_run(tmp_path):
    full = _runner(tmp_path / 'full', 6)
    full.train()
    part = tmp_path / 'part'
    _runner(part, 3).train()
    resumed = _runner(part, 6, resume=True, load_from=str(part / 'iter_3.pth'))
    resumed.train()
    assert resumed.iter == 6
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b)


def test_load_from_restores_weights(tmp_path):
    trained = _runner(tmp_path / 'a', 3)
    trained.train()
    runner = _runner(tmp_path / 'b', 3, load_from=str(tmp_path / 'a' /
                                                          'iter_3.pth'))
    runner.load_or_resume()
    torch.testing.assert_close(runner.model.fc.weight, trained.model.fc.weight)
