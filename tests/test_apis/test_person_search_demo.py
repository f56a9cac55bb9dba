"""demo/person_search_demo.py end to end (tiny random-init OIM checkpoint):
image folder and video galleries, and bad input (message, exit status 1)."""
import shutil

import cv2
import mmcv
import pytest



@pytest.fixture(scope='module')
def demo(load_script):
    return load_script('demo/person_search_demo.py')


@pytest.fixture
def gallery_dir(scenes, tmp_path):
    folder = tmp_path / 'gallery'
    folder.mkdir()
    for path, _ in scenes[:3]:
        shutil.copy(path, folder)
    return folder


@pytest.fixture
def argv(tiny_config, tiny_checkpoint):
    """Command line of the demo with the tiny model."""

    def make(query, box, gallery, *extra):
        return [str(query), *map(str, box), str(gallery), tiny_config,
                tiny_checkpoint, *extra]

    return make


def _write_video(path, images):
    frames = [mmcv.imread(p) for p in images]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 5,
                             (w, h))
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_demo_image_folder(demo, argv, scenes, gallery_dir, tmp_path,
                           capsys):
    qpath, qboxes = scenes[0]
    out = tmp_path / 'vis' / 'search.png'
    rc = demo.main(
        argv(qpath, qboxes[0], gallery_dir, '--topk', '3',
             '--score-thr', '0', '--out-file', str(out)))
    assert rc == 0
    printed = capsys.readouterr().out
    ranks = [line for line in printed.splitlines()
             if line.strip()[:1].isdigit()]
    assert len(ranks) == 3
    names = {p.name for p in gallery_dir.iterdir()}
    assert all(line.split()[1] in names for line in ranks)
    canvas = mmcv.imread(str(out))
    assert canvas.shape[0] == demo.HEADER_HEIGHT + demo.PANEL_HEIGHT
    assert canvas.shape[1] > 3 * demo.PANEL_HEIGHT  # query + 3 scenes


def test_demo_video(demo, argv, scenes, tmp_path, capsys):
    qpath, qboxes = scenes[0]
    video = tmp_path / 'gallery.avi'
    _write_video(video, [p for p, _ in scenes[:3]])
    out = tmp_path / 'video.png'
    rc = demo.main(
        argv(qpath, qboxes[0], video, '--topk', '2',
             '--score-thr', '0', '--out-file', str(out)))
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.count('frame ') >= 2
    assert mmcv.imread(str(out)).shape[0] == (demo.HEADER_HEIGHT +
                                              demo.PANEL_HEIGHT)


def _fails(demo, args, capsys, *words):
    assert demo.main(args) == 1
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    for word in words:
        assert word in err
    return err


def test_demo_bad_inputs(demo, argv, scenes, gallery_dir, tmp_path,
                         capsys):
    qpath, qboxes = scenes[0]
    _fails(demo, argv(qpath, [5, 5, 5000, 60], gallery_dir),
           capsys, 'outside the image', qpath)
    _fails(demo, argv(qpath, [50, 5, 20, 60], gallery_dir),
           capsys, 'non-positive size', qpath)
    empty = tmp_path / 'empty'
    empty.mkdir()
    _fails(demo, argv(qpath, qboxes[0], empty), capsys,
           'holds no image', str(empty))
    corrupt = gallery_dir / 'zz_corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8 not really a jpeg')
    # --strict: every gallery image is decoded first; nothing is searched
    out = tmp_path / 'strict.png'
    _fails(demo, argv(qpath, qboxes[0], gallery_dir, '--strict',
                      '--out-file', str(out)), capsys,
           'unreadable gallery image', 'zz_corrupt.jpg', 'nothing searched')
    assert not out.exists()
    _fails(demo, argv(corrupt, [1, 1, 5, 5], gallery_dir),
           capsys, 'cannot read image', str(corrupt))
    _fails(demo, argv(qpath, qboxes[0], tmp_path / 'nowhere'),
           capsys, 'does not exist')
    bad_video = tmp_path / 'broken.avi'
    bad_video.write_bytes(b'not a video')
    _fails(demo, argv(qpath, qboxes[0], bad_video), capsys,
           str(bad_video))


def test_demo_skips_an_unreadable_gallery_image(demo, argv, scenes,
                                                gallery_dir, tmp_path,
                                                capsys):
    """Default: the unreadable image is skipped with a warning naming it,
    the others are searched, and the count is printed at the end."""
    qpath, qboxes = scenes[0]
    good = sorted(p.name for p in gallery_dir.iterdir())
    corrupt = gallery_dir / 'a_truncated.jpg'
    corrupt.write_bytes(b'\xff\xd8 not really a jpeg')
    out = tmp_path / 'skip.png'
    with pytest.warns(UserWarning, match='a_truncated.jpg'):
        rc = demo.main(argv(qpath, qboxes[0], gallery_dir, '--topk', '50',
                            '--score-thr', '0', '--out-file', str(out)))
    assert rc == 0 and out.exists()
    printed = capsys.readouterr().out
    assert f'1 unreadable gallery image(s) skipped: {corrupt}' in printed
    ranks = [line.split()[1] for line in printed.splitlines()
             if line.strip()[:1].isdigit() and 'unreadable' not in line]
    assert ranks and set(ranks) == set(good)
