"""MMDetection's own tools/train.py and tools/test.py (installed with mmdet
in ``mmdet/.mim/tools``) on an mmqgn config, with nothing called first: the
config's ``custom_imports`` imports mmqgn, whose registries import
MMDetection's modules on demand (mmqgn/registry.py). They train the same
weights and give the same person-search metrics as mmqgn's own tools."""
import glob
import json
import os.path as osp

import mmdet
import pytest
import torch

CONFIG = 'configs/oim/oim_tiny_synthetic.py'
MMDET_TOOLS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools')
# Two iterations of batch 2 without validation; small images, few boxes.
SMALL = [
    'train_dataloader.dataset.indices=4', 'train_dataloader.batch_size=2',
    'train_cfg.max_epochs=1', 'train_cfg.val_begin=2',
    'param_scheduler.0.end=2',
    'train_dataloader.dataset.pipeline.2.scale=(160,120)',
    'test_dataloader.dataset.pipeline.2.scale=(160,120)',
    'model.test_cfg.rpn.max_per_img=10', 'model.test_cfg.rcnn.max_per_img=10'
]
METRICS = {
    f'person_search/{key}'
    for key in ('G50/mAP', 'G50/top1', 'G50/top5', 'G50/top10', 'det/AP',
                'det/recall', 'det/AP_labeled', 'det/recall_labeled')
}


def _tool(name):
    path = osp.join(MMDET_TOOLS, name)
    if not osp.isfile(path):
        pytest.skip(f'{path} is absent: this mmdet install has no .mim tools')
    return path


def _test_metrics(work_dir):
    """The metrics of the one test run in ``work_dir`` (the json that
    MMEngine's LoggerHook writes after the test epoch)."""
    logs = glob.glob(osp.join(work_dir, '*', '*.json'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        metrics = json.load(f)
    return {k: v for k, v in metrics.items() if k.startswith('person_')}


def _weights(ckpt):
    return torch.load(ckpt, map_location='cpu',
                      weights_only=False)['state_dict']


def test_mmdet_tools_train_and_test(tmp_path, run_python, cuhk_data_options):
    train, test = _tool('train.py'), _tool('test.py')
    options = ['--cfg-options', *cuhk_data_options, *SMALL]
    runs = {}
    for name, train_py, test_py in [('mmdet', train, test),
                                    ('mmqgn', 'tools/train.py',
                                     'tools/test.py')]:
        work_dir = str(tmp_path / name)
        log = run_python(train_py, CONFIG, '--work-dir', work_dir, *options)
        assert 'Epoch(train) [1][2/2]' in log
        assert 'Epoch(val)' not in log
        ckpt = osp.join(work_dir, 'epoch_1.pth')
        test_dir = str(tmp_path / f'{name}_test')
        log = run_python(test_py, CONFIG, ckpt, '--work-dir', test_dir,
                         *options)
        metrics = _test_metrics(test_dir)
        assert set(metrics) == METRICS
        mean_ap = metrics['person_search/G50/mAP']
        assert f'person_search/G50/mAP: {mean_ap:.4f}' in log
        runs[name] = (_weights(ckpt), metrics)

    (mmdet_weights, mmdet_metrics), (weights, metrics) = runs.values()
    assert mmdet_weights.keys() == weights.keys()
    for key, value in weights.items():
        torch.testing.assert_close(mmdet_weights[key], value, msg=key)
    assert mmdet_metrics == metrics
