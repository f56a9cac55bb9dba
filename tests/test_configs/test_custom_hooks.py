"""Every hook a config lists under ``custom_hooks`` builds from the mmqgn
HOOKS registry, which looks hooks up in ``mmqgn.engine`` (PairResampleHook
moved there from ``mmqgn.datasets``; its registered name did not change)."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmqgn.datasets
from mmqgn.datasets import PersonSearchPairDataset
from mmqgn.registry import HOOKS

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = sorted(
    p for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    if '_base_' not in p and 'custom_hooks' in open(p).read())


def _name(path):
    return osp.splitext(osp.basename(path))[0]


def test_configs_with_pair_resampling_are_listed():
    names = [_name(p) for p in CONFIGS]
    assert {'qgn_tiny_synthetic', 'qgn_r50-c4_prw',
            'qeeps_r50-c4_prw'} <= set(names)


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_custom_hooks_build(path):
    cfg = Config.fromfile(path)
    with DefaultScope.overwrite_default_scope('mmqgn'):
        hooks = [HOOKS.build(h) for h in cfg.custom_hooks]
    assert [type(h) for h in hooks] == [
        HOOKS.get(h.type) for h in cfg.custom_hooks]
    assert [type(h).__name__ for h in hooks] == [
        h.type for h in cfg.custom_hooks]


def test_pair_resample_hook_lives_in_engine():
    from mmqgn.engine import PairResampleHook
    assert HOOKS.get('PairResampleHook') is PairResampleHook
    assert PairResampleHook.__module__ == \
        'mmqgn.engine.hooks.pair_resample_hook'
    assert not hasattr(mmqgn.datasets, 'PairResampleHook')
    assert PersonSearchPairDataset.__module__ == \
        'mmqgn.datasets.pair_dataset'
