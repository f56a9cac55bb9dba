"""tools/analysis_tools/calibrate_gfn_threshold.py: the GFN threshold of
the val partition (gfn_seqnext.md §3.7, §8.1 decision 3), checked against
scores computed independently with the model and ``gfn_scores``."""
import argparse
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint

from mmqgn.evaluation import calibrate_gfn_threshold
from mmqgn.evaluation.functional import gfn_negative_filtered
from mmqgn.search import gfn_scores
from mmqgn.registry import DATASETS, MODELS
from mmqgn.utils import register_all_modules

torch.set_num_threads(1)

TOOL = 'tools/analysis_tools/calibrate_gfn_threshold.py'
GFN_CONFIG = 'configs/oim/oim_gfn_tiny_synthetic.py'
QGN_GFN_CONFIG = 'configs/qgn/qgn_gfn_tiny_synthetic.py'
SCALE = '(192,144)'  # small images keep the test fast


def _tool():
    spec = importlib.util.spec_from_file_location('_calibrate_gfn', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _data_options(root: str):
    """cfg-options pointing the test data at the fixture, small images."""
    return [
        f'test_dataloader.dataset.data_root={root}',
        f'test_evaluator.ann_file={root}annotations/test.json',
        f'test_dataloader.dataset.pipeline.2.scale={SCALE}',
    ]


def _cfg(config, options):
    """The config with ``--cfg-options`` applied as DictAction parses
    them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(
        parser.parse_args(['--cfg-options', *options]).cfg_options)
    return cfg


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A random-init tiny OIMWithGFN checkpoint."""
    register_all_modules()
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(GFN_CONFIG).model)
    path = str(tmp_path_factory.mktemp('ckpt') / 'gfn_init.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def _independent_scores(cfg, checkpoint, root):
    """GFN scores and positives of every (query, gallery entry) of the val
    set, by hand: model.test_step per image, ``gfn_scores`` per query, the
    positives from the raw JSONs."""
    register_all_modules()
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    dataset = DATASETS.build(
        dict(type='CUHKSYSUDataset', data_root=root,
             ann_file='annotations/val.json', data_prefix=dict(img=''),
             test_mode=True, retrieval_sets=['val'],
             pipeline=cfg.test_dataloader.dataset.pipeline))
    scenes, queries = {}, {}
    with torch.no_grad():
        for i in range(len(dataset)):
            sample = model.test_step(pseudo_collate([dataset[i]]))[0]
            if sample.metainfo.get('is_query', False):
                queries[int(sample.metainfo['query_ann_id'])] = sample
            else:
                scenes[int(sample.metainfo['img_id'])] = sample
    with open(osp.join(root, 'annotations', 'val.json')) as f:
        anns = json.load(f)['annotations']
    with open(osp.join(root, 'retrieval', 'val.json')) as f:
        rset = json.load(f)
    # the val set lists each query's gallery (no shared gallery)
    assert rset['gallery'] is None and not rset['exclude_query_image']
    pids = {}
    for ann in anns:
        pids.setdefault(ann['image_id'], set()).add(ann['person_id'])
    scores, positive = [], []
    with torch.no_grad():
        for q in rset['queries']:
            gallery = torch.stack(
                [scenes[g].scene_embedding for g in q['gallery']])
            scores.append(
                gfn_scores(model, queries[q['ann_id']], gallery).numpy())
            positive += [q['person_id'] in pids[g] for g in q['gallery']]
    return np.concatenate(scores), np.array(positive), len(rset['queries'])


def test_calibration_matches_independent_scores(synthetic_root, checkpoint,
                                                tmp_path):
    root = str(synthetic_root / 'CUHK-SYSU') + '/'
    options = _data_options(root) + [
        f'train_dataloader.dataset.data_root={root}'
    ]
    out = str(tmp_path / 'thr.json')
    proc = subprocess.run(
        [sys.executable, TOOL, GFN_CONFIG, checkpoint, '--recall', '0.9',
         '--out', out, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options', *options],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        result = json.load(f)
    # the metric ran on the val partition, not on test
    assert 'person_search/val/scene_thr90' in proc.stdout + proc.stderr
    # the tiny config trains on trainval, which holds every val image
    with open(root + 'annotations/val.json') as f:
        num_val = len(json.load(f)['images'])
    assert result['val_images_seen_in_training'] == num_val > 0
    assert 'WARNING: the training annotation file holds' in proc.stdout
    assert result['ann_file'] == root + 'annotations/val.json'

    scores, positive, num_queries = _independent_scores(
        _cfg(GFN_CONFIG, options), checkpoint, root)
    assert (result['num_queries'], result['num_pairs'],
            result['num_positive']) == (num_queries, scores.size,
                                        int(positive.sum()))
    assert 0 < positive.sum() < positive.size
    thr = calibrate_gfn_threshold(scores, positive, 0.9)
    # embedding form: the metric scores from query codes (numpy), the model
    # with gfn_scores (torch); the same numbers up to float32 rounding (the
    # random-init scores lie within 0.005, neighbours ~1e-5 apart)
    assert result['threshold'] == pytest.approx(thr, abs=1e-6)
    assert thr > scores[positive].min()  # a real quantile, not the minimum
    assert result['recall'] == 0.9
    near = np.abs(scores[~positive] - result['threshold']) < 1e-6
    assert abs(result['negatives_removed'] - gfn_negative_filtered(
        scores, positive, result['threshold'])) <= near.mean() + 1e-12

    # the printed options set the threshold exactly
    opts = result['cfg_options'].split()
    assert opts == [f'model.test_cfg.gfn.filter_thr={result["threshold"]!r}',
                    f'test_evaluator.gfn_thr={result["threshold"]!r}']
    cfg = _cfg(GFN_CONFIG, opts)
    assert cfg.model.test_cfg.gfn.filter_thr == result['threshold']
    assert cfg.test_evaluator.gfn_thr == result['threshold']
    assert f'--cfg-options {result["cfg_options"]}' in proc.stdout


def test_no_gfn_is_refused(synthetic_root, checkpoint, tmp_path):
    root = str(synthetic_root / 'CUHK-SYSU') + '/'
    with pytest.raises(SystemExit, match='has no Gallery Filter Network'):
        _tool().main(['configs/oim/oim_tiny_synthetic.py', checkpoint,
                      '--work-dir', str(tmp_path), '--cfg-options',
                      *_data_options(root)])


def test_missing_val_partition_is_refused(synthetic_root, checkpoint,
                                          tmp_path):
    root = str(synthetic_root / 'CUHK-SYSU') + '/'
    tool = _tool()
    with pytest.raises(SystemExit,
                       match=r'no val partition: annotation file .*'
                       r'annotations/none\.json not found'):
        tool.main([GFN_CONFIG, checkpoint, '--ann-file',
                   'annotations/none.json', '--work-dir', str(tmp_path),
                   '--cfg-options', *_data_options(root)])
    with pytest.raises(SystemExit, match=r'retrieval set .*nope\.json'):
        tool.main([GFN_CONFIG, checkpoint, '--retrieval-set', 'nope',
                   '--work-dir', str(tmp_path), '--cfg-options',
                   *_data_options(root)])
    with pytest.raises(SystemExit, match='is the test partition'):
        tool.main([GFN_CONFIG, checkpoint, '--ann-file',
                   'annotations/test.json', '--retrieval-set', 'G50',
                   '--work-dir', str(tmp_path), '--cfg-options',
                   *_data_options(root)])


def test_query_major_config_runs_the_val_set(synthetic_root):
    """QueryMajorTestLoop: its retrieval set, threshold and resume file are
    the val run's; the model's filter is off."""
    root = str(synthetic_root / 'CUHK-SYSU') + '/'
    cfg = _cfg(QGN_GFN_CONFIG, _data_options(root) + [
        'model.test_cfg.gfn.filter_thr=0.6', 'test_cfg.gfn_thr=0.6',
        'test_cfg.resume_file=/tmp/test_resume.pkl'
    ])
    tool = _tool()
    tool.check_gfn(cfg, QGN_GFN_CONFIG)
    ann_path, set_path = tool.to_val(cfg, QGN_GFN_CONFIG,
                                     'annotations/val.json', 'val', 0.95)
    assert ann_path == root + 'annotations/val.json'
    assert set_path == osp.normpath(root + 'retrieval/val.json')
    assert cfg.test_cfg.type == 'QueryMajorTestLoop'
    assert cfg.test_cfg.retrieval_set == 'val'
    assert cfg.test_cfg.gfn_thr is None and cfg.test_cfg.resume_file is None
    assert cfg.model.test_cfg.gfn.filter_thr is None
    assert cfg.test_dataloader.dataset.ann_file == 'annotations/val.json'
    assert cfg.test_dataloader.dataset.retrieval_sets == ['val']
    ev = cfg.test_evaluator
    assert (ev.ann_file, ev.retrieval_sets, ev.gfn_recall, ev.gfn_thr) == (
        ann_path, ['val'], 0.95, None)
