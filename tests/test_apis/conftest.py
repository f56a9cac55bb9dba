"""Fixtures of the inference API tests: a random-init tiny OIM searcher, its
checkpoint, and a synthetic CUHK-SYSU test scene with a known person box."""
import importlib.util
import json
import os.path as osp

import pytest
import torch

from mmqgn.apis import init_searcher

ROOT = osp.normpath(osp.join(osp.dirname(__file__), '..', '..'))
TINY = osp.join(ROOT, 'configs/oim/oim_tiny_synthetic.py')


def _load_script(relpath: str):
    """Import a script of the repository (demo/, tools/, benchmarks/)."""
    path = osp.join(ROOT, relpath)
    name = '_script_' + osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_script():
    """``load_script('demo/x.py')`` imports that script as a module."""
    return _load_script


@pytest.fixture(scope='session')
def tiny_config():
    return TINY


@pytest.fixture(scope='session')
def tiny_searcher():
    """Tiny OIM (tiny config, no pretrained weights), seeded random init."""
    torch.manual_seed(0)
    return init_searcher(TINY, device='cpu')


@pytest.fixture(scope='session')
def tiny_checkpoint(tiny_searcher, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'tiny_oim.pth'
    torch.save(
        dict(state_dict=tiny_searcher.state_dict(),
             meta=dict(dataset_meta=tiny_searcher.dataset_meta)), path)
    return str(path)


@pytest.fixture(scope='session')
def scenes(synthetic_root):
    """Test images of the synthetic CUHK-SYSU (paths, sorted by id), each
    with its person boxes [x1, y1, x2, y2]."""
    root = synthetic_root / 'CUHK-SYSU'
    with open(root / 'annotations' / 'test.json') as f:
        coco = json.load(f)
    boxes = {img['id']: [] for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        boxes[ann['image_id']].append([x, y, x + w, y + h])
    return [(str(root / img['file_name']), boxes[img['id']])
            for img in sorted(coco['images'], key=lambda i: i['id'])
            if boxes[img['id']]]


@pytest.fixture(autouse=True)
def single_torch_thread():
    """One intra-op thread: these small models run faster than with several
    (and far faster than with threads competing for a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
