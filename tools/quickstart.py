"""The main job on the embedded synthetic default (README, first command).

Generates the synthetic dataset in both raw layouts, converts it, trains the
tiny OIM model from scratch on CPU, evaluates it next to the same model
untrained, and runs the person-search demo on a synthetic query. Everything
it writes, the log included, lands in one output folder, named at the end.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/oim/oim_tiny_synthetic.py'
DATA = 'data/synthetic'
KEYS = ('G50/mAP', 'G50/top1', 'G100/mAP', 'G100/top1', 'GOcclusion/mAP',
        'GResolution/mAP', 'det/AP', 'det/recall')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('out_dir', nargs='?', default='outputs/quickstart')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def run(cmd, log):
    """Run a command from the repo root, echoing its output into the log."""
    print('$ ' + ' '.join(cmd), flush=True)
    log.write('$ ' + ' '.join(cmd) + '\n')
    log.flush()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        log.write(line)
        if not line.startswith('['):  # progress bars stay in the log only
            print(line, end='', flush=True)
    if proc.wait():
        raise SystemExit(f'failed ({proc.returncode}): {" ".join(cmd)}; '
                         f'see {log.name}')


def evaluate(work_dir, checkpoint=None, results_file=None):
    """Test metrics of the tiny model: trained (``checkpoint``) or with its
    initial random weights (``None``)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmqgn.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(osp.join(ROOT, CONFIG))
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.experiment_name = 'trained' if checkpoint else 'untrained'
    cfg.test_evaluator.results_file = results_file
    return Runner.from_cfg(cfg).test()


def demo_inputs(out_dir):
    """The first G100 query of the synthetic test set and its gallery."""
    from mmqgn.utils.json_io import CONVERTER_FIX, load_json
    root = osp.join(ROOT, DATA, 'CUHK-SYSU')
    query = load_json(osp.join(root, 'retrieval', 'G100.json'),
                      CONVERTER_FIX)['queries'][0]
    test = load_json(osp.join(root, 'annotations', 'test.json'),
                     CONVERTER_FIX)
    files = {im['id']: im['file_name'] for im in test['images']}
    gallery = osp.join(out_dir, 'demo_gallery')
    os.makedirs(gallery, exist_ok=True)
    for img_id in query['gallery']:
        link = osp.join(gallery, osp.basename(files[img_id]))
        if not osp.exists(link):
            os.symlink(osp.join(root, files[img_id]), link)
    x, y, w, h = query['bbox']
    box = [str(round(v, 1)) for v in (x, y, x + w, y + h)]
    return osp.join(root, files[query['image_id']]), box, gallery


def summary(trained, untrained):
    rows = ['| metric | untrained | trained |', '|---|---|---|']
    for key in KEYS:
        full = f'person_search/{key}'
        if full in trained:
            rows.append(f'| {key} | {100 * untrained.get(full, 0):.1f} | '
                        f'{100 * trained[full]:.1f} |')
    return '\n'.join(rows)


def main():
    args = parse_args()
    out_dir = osp.abspath(args.out_dir)
    work_dir = osp.join(out_dir, 'oim_tiny')
    os.makedirs(work_dir, exist_ok=True)
    py = sys.executable
    start = time.time()
    with open(osp.join(out_dir, 'quickstart.log'), 'w') as log:
        run([py, 'tools/misc/make_synthetic_dataset.py', '--out-dir', DATA,
             '--seed', str(args.seed), '--no-progress'], log)
        for name in ('cuhk_sysu', 'prw'):
            folder = 'CUHK-SYSU' if name == 'cuhk_sysu' else 'PRW'
            run([py, f'tools/dataset_converters/{name}.py',
                 f'{DATA}/{folder}', '--no-progress'], log)
        run([py, 'tools/train.py', CONFIG, '--work-dir', work_dir], log)
        ckpt = osp.join(work_dir, 'last_checkpoint')
        with open(ckpt) as f:
            ckpt = f.read().strip()
        query, box, gallery = demo_inputs(out_dir)
        png = osp.join(out_dir, 'search.png')
        run([py, 'demo/person_search_demo.py', query, *box, gallery, CONFIG,
             ckpt, '--topk', '5', '--out-file', png], log)
        trained = evaluate(work_dir, ckpt,
                           osp.join(work_dir, 'results.pkl'))
        untrained = evaluate(osp.join(out_dir, 'untrained'))
        table = summary(trained, untrained)
        log.write(table + '\n')
    print('\nSynthetic CUHK-SYSU test set (%):\n' + table)
    print(f'\nDone in {(time.time() - start) / 60:.1f} min. Output folder: '
          f'{out_dir}\n  log: quickstart.log, demo: search.png, model and '
          f'test results: oim_tiny/')


if __name__ == '__main__':
    main()
