"""demo/person_search_demo.py with a query-guided model (the tiny QGN
config, random init) and with a GFN model (two-phase search options)."""
import shutil

import mmcv
import pytest
import torch

from mmqgn.apis import init_searcher

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def demo(load_script):
    return load_script('demo/person_search_demo.py')


def _checkpoint(config, path):
    """A random-init checkpoint of ``config`` (no ``load_from``)."""
    torch.manual_seed(0)
    model = init_searcher(config, cfg_options=dict(load_from=None))
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=model.dataset_meta)), path)
    return str(path)


@pytest.fixture
def gallery_dir(scenes, tmp_path):
    folder = tmp_path / 'gallery'
    folder.mkdir()
    for path, _ in scenes[1:4]:
        shutil.copy(path, folder)
    return folder


def _ranks(printed):
    return [line for line in printed.splitlines()
            if line.strip()[:1].isdigit()]


def test_demo_query_guided(demo, tiny_config, scenes, gallery_dir, tmp_path,
                           capsys):
    config = tiny_config.replace('oim/oim_tiny_synthetic.py',
                                 'qgn/qgn_tiny_synthetic.py')
    ckpt = _checkpoint(config, tmp_path / 'qgn.pth')
    qpath, qboxes = scenes[0]
    out = tmp_path / 'qgn.png'
    rc = demo.main([qpath, *map(str, qboxes[0]), str(gallery_dir), config,
                    ckpt, '--topk', '3', '--score-thr', '0', '--batch-size',
                    '2', '--out-file', str(out)])
    assert rc == 0
    ranks = _ranks(capsys.readouterr().out)
    assert len(ranks) == 3
    names = {p.name for p in gallery_dir.iterdir()}
    assert all(line.split()[1] in names for line in ranks)
    sims = [float(line.split()[-1]) for line in ranks]
    assert sims == sorted(sims, reverse=True)
    assert mmcv.imread(str(out)).shape[1] > 3 * demo.PANEL_HEIGHT
    # a query box outside the image is still a clean error
    assert demo.main([qpath, '5', '5', '5000', '60', str(gallery_dir),
                      config, ckpt]) == 1
    assert 'outside the image' in capsys.readouterr().err


def test_demo_gfn_filter(demo, tiny_config, scenes, gallery_dir, tmp_path,
                         capsys):
    config = tiny_config.replace('oim_tiny_synthetic.py',
                                 'oim_gfn_tiny_synthetic.py')
    ckpt = _checkpoint(config, tmp_path / 'oim_gfn.pth')
    qpath, qboxes = scenes[0]
    argv = [qpath, *map(str, qboxes[0]), str(gallery_dir), config, ckpt,
            '--topk', '50', '--score-thr', '0', '--out-file',
            str(tmp_path / 'gfn.png')]
    assert demo.main(argv + ['--no-gfn-filter']) == 0
    printed = capsys.readouterr().out
    assert 'GFN filter' not in printed
    rows = _ranks(printed)
    gfn = {line.split()[1]: float(line.split()[-1]) for line in rows}
    assert len(gfn) == 3  # every image has matches and one GFN score
    # a threshold above every GFN score: every image skipped, no match
    assert demo.main(argv + ['--gfn-thr', '0.99']) == 0
    printed = capsys.readouterr().out
    assert '3 of 3 gallery images skipped' in printed
    assert not _ranks(printed)
    # just above the lowest score: that image's rows disappear
    low = min(gfn, key=gfn.get)
    thr = gfn[low] + 5e-4
    assert demo.main(argv + ['--gfn-thr', f'{thr}']) == 0
    rows = _ranks(capsys.readouterr().out)
    assert rows and all(line.split()[1] != low for line in rows)
