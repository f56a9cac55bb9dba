"""mmqgn/registry.py: in a fresh interpreter that has imported nothing but
``mmqgn`` (what a config's ``custom_imports`` does under MMDetection's own
tools), an mmqgn registry finds MMDetection modules that nothing has
imported yet, and mmqgn modules registered outside the registry's own
``locations`` package."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.normpath(osp.join(osp.dirname(__file__), '..', '..'))

# registry, type name, the module that must define it
LOOKUPS = [
    ('VISUALIZERS', 'DetLocalVisualizer', 'mmdet.visualization'),
    ('HOOKS', 'DetVisualizationHook', 'mmdet.engine.hooks'),
    ('HOOKS', 'PairResampleHook', 'mmqgn.engine.hooks'),
    ('HOOKS', 'RNGStateHook', 'mmqgn.engine'),
    ('TRANSFORMS', 'PackDetInputs', 'mmdet.datasets.transforms'),
    ('TRANSFORMS', 'PackPersonSearchInputs', 'mmqgn.datasets.transforms'),
    ('DATA_SAMPLERS', 'AspectRatioBatchSampler', 'mmdet.datasets.samplers'),
    ('MODELS', 'RPNHead', 'mmdet.models'),
    ('MODELS', 'OIM', 'mmqgn.models'),
    ('TASK_UTILS', 'MaxIoUAssigner', 'mmdet.models'),
    ('METRICS', 'PersonSearchMetric', 'mmqgn.evaluation'),
]

SCRIPT = '''
import json, sys
import mmqgn
from mmqgn import registry
lazy = ['mmdet.visualization', 'mmdet.engine', 'mmdet.models',
        'mmqgn.datasets', 'mmqgn.models']
before = sorted(m for m in lazy if m in sys.modules)
found = []
for name, key, _ in json.loads(sys.argv[1]):
    cls = getattr(registry, name).get(key)
    found.append(None if cls is None else cls.__module__)
print(json.dumps(dict(before=before, found=found)))
'''


def test_registries_import_mmdet_and_mmqgn_modules_on_demand():
    proc = subprocess.run(
        [sys.executable, '-c', SCRIPT, json.dumps(LOOKUPS)],
        capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # importing mmqgn registers nothing of mmdet's or its own lazily-found
    # modules, so each lookup below depends on the registries' imports
    assert result['before'] == []
    for (name, key, module), found in zip(LOOKUPS, result['found']):
        assert found is not None and found.startswith(module + '.'), (
            name, key, found)
