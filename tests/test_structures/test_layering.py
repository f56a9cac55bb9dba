"""Layering: structures <- datasets, evaluation <- engine (issue 14, item 5).

Each check runs in a fresh interpreter, so that what a first import pulls in
(and an import cycle, which shows only for some first module) is seen."""
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LAYERS = ('mmqgn.structures', 'mmqgn.datasets', 'mmqgn.evaluation',
          'mmqgn.engine')
#: layers (second name of ``mmqgn.<layer>``) a layer must not load
FORBIDDEN = {
    'mmqgn.structures': ('datasets', 'evaluation', 'engine', 'models',
                         'apis'),
    'mmqgn.datasets': ('evaluation', 'engine', 'models', 'apis'),
    'mmqgn.evaluation': ('datasets', 'engine', 'models', 'apis'),
    'mmqgn.engine': ('apis', ),
}


@pytest.mark.parametrize('first', LAYERS)
def test_layer_imports_first_without_a_cycle(first):
    """``import first`` loads no layer above it; then every other layer
    imports after it (an import cycle would fail here)."""
    code = (f'import sys, {first}\n'
            'print(" ".join(sorted(m for m in sys.modules '
            'if m.startswith("mmqgn."))))\n' +
            ''.join(f'import {m}\n' for m in LAYERS))
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = out.stdout.split()
    assert first in loaded
    if first != 'mmqgn.structures':
        assert 'mmqgn.structures' in loaded
    assert [m for m in loaded if m.split('.')[1] in FORBIDDEN[first]] == []
