"""tools/train.py -> tools/test.py --out -> eval_person_search.py, as a user
runs them (one short epoch of the tiny OIM model on synthetic data)."""
import os.path as osp
import pickle

CONFIG = 'configs/oim/oim_tiny_synthetic.py'


def test_train_test_and_offline_evaluation(synthetic_root, tmp_path,
                                           run_python, cuhk_data_options):
    _run, data = run_python, cuhk_data_options
    root = str(synthetic_root / 'CUHK-SYSU') + '/'
    work_dir = str(tmp_path / 'work')
    _run('tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
         *data, 'train_dataloader.dataset.indices=4',
         'train_cfg.max_epochs=1', 'train_cfg.val_interval=10',
         'param_scheduler.0.end=2')
    ckpt = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    out = str(tmp_path / 'results.pkl')
    log = _run('tools/test.py', CONFIG, ckpt, '--work-dir', work_dir,
               '--out', out, '--cfg-options', *data)
    assert 'person_search/G50/mAP' in log
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert results['gallery'] and results['queries']

    eval_dir = str(tmp_path / 'eval')
    _run('tools/analysis_tools/eval_person_search.py', out, '--data-root',
         root, '--sets', 'G50', '--out-dir', eval_dir)
    assert osp.isfile(osp.join(eval_dir, 'cmc.png'))
