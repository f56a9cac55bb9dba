"""Let the numpy-only evaluation core be tested without the full stack.

``mmqgn/__init__.py`` imports mmcv / mmdet eagerly. When they are missing
(light environment), register bare package modules for ``mmqgn`` and
``mmqgn.evaluation`` so that ``mmqgn.evaluation.functional`` (pure numpy)
can still be imported; tests needing the real stack skip themselves via
``pytest.importorskip``. With the full stack installed this does nothing.
"""
import importlib
import os.path as osp
import sys
import types


def _ensure_functional_importable():
    repo = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..',
                                 '..'))
    try:
        importlib.import_module('mmqgn')
        return
    except ModuleNotFoundError as e:
        if e.name == 'mmqgn':  # not installed: use the checkout
            sys.path.insert(0, repo)
            return _ensure_functional_importable()
        if (e.name or '').split('.')[0] not in ('mmcv', 'mmdet', 'torch',
                                                'mmengine', 'mmpretrain'):
            raise
    root = osp.join(repo, 'mmqgn')
    for name, path in (('mmqgn', root),
                       ('mmqgn.evaluation', osp.join(root, 'evaluation'))):
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__path__ = [path]
            mod.__file__ = osp.join(path, '__init__.py')
            sys.modules[name] = mod


_ensure_functional_importable()
