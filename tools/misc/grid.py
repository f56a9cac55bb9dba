# Expand list-valued --cfg-options into a grid of training runs
# (gfn_seqnext.md §8.2 decision 30: the reference turns every list in its
# YAML config into a Ray Tune grid axis; here each list-valued override is an
# axis and every combination becomes one tools/train.py command with its own
# work dir). A value that is itself a list must be nested: key=[[15,25]].
#
#   python tools/misc/grid.py configs/seqnext/ablations/seqnext-gfn_baseline_prw.py \
#       --cfg-options model.gfn.pool_size=[14,28,56,112]
#
# prints the four commands; --run runs them one after the other; arguments
# after "--" go to every tools/train.py command (e.g. -- --amp).
import argparse
import itertools
import os.path as osp
import shlex
import subprocess
import sys
from typing import Any, Dict, List

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Expand list-valued overrides into a grid of runs')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides; a list value [a,b] is a grid axis')
    parser.add_argument(
        '--work-dir-root',
        default='work_dirs',
        help='each run goes to <root>/<config name>/<axis values>')
    parser.add_argument(
        '--run', action='store_true', help='run the commands in turn')
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv.index('--') if '--' in argv else len(argv)
    args = parser.parse_args(argv[:extra])
    args.train_args = argv[extra + 1:]  # after "--": for tools/train.py
    return args


def expand(options: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One dict per combination of the list-valued options (axes in the
    given order); scalar options are in every combination."""
    axes = [(k, v) for k, v in options.items() if isinstance(v, list)]
    combos = itertools.product(*(v for _, v in axes)) if axes else [()]
    return [
        dict(options, **{k: val
                         for (k, _), val in zip(axes, combo)})
        for combo in combos
    ]


def format_value(value: Any) -> str:
    """Back to the ``--cfg-options`` syntax that DictAction parses."""
    if isinstance(value, (list, tuple)):
        inner = ','.join(format_value(v) for v in value)
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    return str(value)


def run_name(options: Dict[str, Any], axes: List[str]) -> str:
    """Folder name of one run, from its axis values, e.g.
    ``pool_size-14``; 'default' without axes."""
    parts = [
        f"{key.split('.')[-1]}-{format_value(options[key])}" for key in axes
    ]
    name = '_'.join(parts) or 'default'
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)


def commands(config: str,
             options: Dict[str, Any],
             work_dir_root: str = 'work_dirs',
             train_args: List[str] = ()) -> List[List[str]]:
    """The tools/train.py argument lists of every grid point."""
    axes = [k for k, v in options.items() if isinstance(v, list)]
    cfg_name = osp.splitext(osp.basename(config))[0]
    cmds = []
    for combo in expand(options):
        cmd = [
            sys.executable, 'tools/train.py', config, '--work-dir',
            osp.join(work_dir_root, cfg_name, run_name(combo, axes))
        ]
        if combo:
            cmd += ['--cfg-options'] + [
                f'{k}={format_value(v)}' for k, v in combo.items()
            ]
        cmds.append(cmd + list(train_args))
    return cmds


def main(argv=None) -> int:
    args = parse_args(argv)
    cmds = commands(args.config, args.cfg_options, args.work_dir_root,
                    args.train_args)
    for cmd in cmds:
        print(shlex.join(cmd), flush=True)
        if args.run:
            code = subprocess.call(cmd)
            if code:
                return code
    return 0


if __name__ == '__main__':
    sys.exit(main())
