"""Fixtures of the command-line tests: run a script of this checkout as a
user does, and the ``--cfg-options`` that point a synthetic config at the
session's synthetic CUHK-SYSU (a fresh clone has no ``data/synthetic``)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.normpath(osp.join(osp.dirname(__file__), '..', '..'))


def _run_python(*args) -> str:
    """Run ``python ARGS`` from the repository root; assert it succeeded and
    return its output. ``PYTHONPATH`` puts this checkout first, since a
    script's own folder, not the working directory, heads ``sys.path`` (an
    installed mmqgn would be imported otherwise). One OpenMP thread unless
    set: on a shared CPU, the tiny models run ten times faster so."""
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (ROOT, env.get('PYTHONPATH')) if p)
    proc = subprocess.run([sys.executable, *args], capture_output=True,
                          text=True, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='session')
def run_python():
    """``run_python('tools/train.py', ...)`` runs a script as above."""
    return _run_python


@pytest.fixture(scope='session')
def cuhk_data_options(synthetic_root):
    """cfg-options for the train, val and test data of a synthetic CUHK-SYSU
    config; the test set restricted to G50."""
    root = str(synthetic_root / 'CUHK-SYSU') + '/'
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={root}annotations/test.json',
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.ann_file={root}annotations/test.json',
        'test_dataloader.dataset.retrieval_sets=[G50]',
        'test_evaluator.retrieval_sets=[G50]',
    ]
