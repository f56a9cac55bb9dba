"""Tests of the synthetic raw CUHK-SYSU / PRW generator.

The .mat files are read with the legacy ``scipy.io.loadmat`` access patterns
of docs/data_format.md section 1.
"""
import os
import os.path as osp
import re
import subprocess
import sys
from collections import defaultdict

import cv2
import numpy as np
import pytest
from scipy.io import loadmat

from mmqgn.datasets.synthetic import (CUHK_GALLERY_SIZES, DEFAULT_SIZES,
                                      PLACE_PANORAMA, PRW_FRAMES_PER_SEQ,
                                      PRW_KEYS, make_background,
                                      make_synthetic_dataset,
                                      place_background, plan_split,
                                      prw_frame_names)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = dict(
    img_width=128, img_height=96,
    cuhk_train_ids=8, cuhk_test_ids=4, cuhk_train_scenes=14,
    cuhk_test_scenes=10,
    prw_train_ids=6, prw_test_ids=4, prw_train_frames=10,
    prw_test_frames=10, id_group_size=4)
W, H = TINY['img_width'], TINY['img_height']


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    stats = make_synthetic_dataset(root, seed=0, **TINY)
    return root, stats


# ----------------------------------------------------------------- helpers
def cuhk(root):
    return osp.join(root, 'CUHK-SYSU')


def load_images_mat(root):
    """name -> (N, 4) boxes, the legacy way."""
    img = loadmat(osp.join(cuhk(root), 'annotation', 'Images.mat'))['Img']
    assert img.dtype.names == ('imname', 'nAppear', 'box')
    assert img[0, 0]['box'].dtype.names == ('idlocate', 'ishard')
    out = {}
    for imname, n_appear, box in img.squeeze():
        boxes = np.asarray([b[0] for b in box[0]]).reshape(-1, 4)
        assert boxes.shape[0] == int(n_appear.squeeze())
        out[str(imname[0])] = boxes
    return out, img.shape


def load_pool(root):
    pool = loadmat(osp.join(cuhk(root), 'annotation', 'pool.mat'))['pool']
    assert pool.ndim == 2 and pool.shape[1] == 1
    return [str(p[0]) for p in pool.squeeze()]


def load_train(root):
    """[(idname, [(imname, box)])] from Train.mat, the legacy way."""
    path = osp.join(cuhk(root), 'annotation', 'test', 'train_test',
                    'Train.mat')
    train = loadmat(path)['Train']
    assert train.ndim == 2 and train.shape[1] == 1
    out = []
    for k, item in enumerate(train.squeeze()):
        assert item.shape == (1, 1)
        assert item.dtype.names == ('idname', 'nAppear', 'scene')
        assert item[0, 0]['scene'].dtype.names == ('imname', 'idlocate',
                                                   'ishard')
        idname, n_appear, _ = item[0, 0]
        scene = item[0, 0][2].squeeze()
        apps = [(str(im[0]), loc.squeeze()) for im, loc, _ in scene]
        assert len(apps) == int(n_appear.squeeze()) >= 2
        out.append((str(idname[0]), apps))
    return out


def load_protocol(path, key):
    """[(query (imname, box, idname), [(imname, box or None)])]."""
    mat = loadmat(path)
    assert key in mat and mat[key].shape[0] == 1
    out = []
    for item in mat[key].squeeze():
        assert item['Query'].shape == (1, 1)
        assert item['Query'].dtype.names == ('imname', 'idlocate', 'ishard',
                                             'idname')
        assert item['Gallery'].dtype.names == ('imname', 'idlocate',
                                               'ishard')
        imname, idlocate, ishard, idname = item['Query'][0, 0]
        gallery = [(str(g[0]), loc.squeeze() if loc.size else None)
                   for g, loc, _ in item['Gallery'].squeeze()]
        assert all(loc.shape in ((1, 4), (1, 0))
                   for loc in item['Gallery']['idlocate'].ravel())
        assert idlocate.shape == (1, 4) and ishard.size == 1
        out.append(((str(imname[0]), idlocate.squeeze(), str(idname[0])),
                    gallery))
    return out, mat[key]


def has_box(boxes, box):
    return bool(np.any(np.all(boxes == np.asarray(box), axis=1)))


def prw_list(root, split):
    key = f'img_index_{split}'
    mat = loadmat(osp.join(root, 'PRW', f'frame_{split}.mat'))[key]
    assert mat.ndim == 2 and mat.shape[1] == 1
    return [img[0][0] for img in mat]


def prw_annotation(root, frame):
    """(key, (N, 5) array) with the legacy key fallback order."""
    anno = loadmat(osp.join(root, 'PRW', 'annotations', frame + '.jpg'))
    for key in ('box_new', 'anno_file', 'anno_previous'):
        if key in anno:
            return key, anno[key]
    raise AssertionError(f'no annotation key in {frame}')


def prw_queries(root):
    with open(osp.join(root, 'PRW', 'query_info.txt'), 'rb') as f:
        raw = f.readlines()
    assert all(line.endswith(b'\r\n') for line in raw)
    out = []
    for line in raw:
        fields = str(line, 'utf-8').split(' ')
        box = [float(v) for v in fields[1:5]]
        out.append((int(fields[0]), box, fields[5][:-2]))  # legacy [:-2]
    return out


def check_box(box):
    x, y, w, h = box
    assert w > 0 and h > 0 and x >= 0 and y >= 0
    assert x + w <= W and y + h <= H


# ------------------------------------------------------------- CUHK-SYSU
def test_cuhk_images_and_pool(data):
    root, stats = data
    boxes, shape = load_images_mat(root)
    n = TINY['cuhk_train_scenes'] + TINY['cuhk_test_scenes']
    assert shape == (1, n) and set(boxes) == {f's{i}.jpg' for i in
                                              range(1, n + 1)}
    for name, bb in boxes.items():
        path = osp.join(cuhk(root), 'Image', 'SSM', name)
        with open(path, 'rb') as f:
            assert f.read(3) == b'\xff\xd8\xff'  # a real JPEG
        assert cv2.imread(path).shape == (H, W, 3)
        for box in bb:
            check_box(box)
    pool = load_pool(root)
    assert len(pool) == len(set(pool)) == TINY['cuhk_test_scenes']
    assert set(pool) <= set(boxes)
    s = stats['CUHK-SYSU']
    assert s['boxes'] == sum(len(b) for b in boxes.values())
    assert s['unlabeled_boxes'] > 0 and s['known_boxes'] > 0


def test_cuhk_train_mat(data):
    root, _ = data
    boxes, _ = load_images_mat(root)
    pool = set(load_pool(root))
    train = load_train(root)
    assert [idname for idname, _ in train] == [
        f'p{k}' for k in range(1, TINY['cuhk_train_ids'] + 1)]
    for _, apps in train:
        assert len({im for im, _ in apps}) == len(apps)
        for im, box in apps:
            assert im not in pool and has_box(boxes[im], box)
    labelled = sum(len(apps) for _, apps in train)
    unlabelled = sum(len(b) for im, b in boxes.items() if im not in pool)
    assert unlabelled > labelled  # unlabelled boxes only in Images.mat


def test_cuhk_test_protocols(data):
    root, _ = data
    boxes, _ = load_images_mat(root)
    pool = load_pool(root)
    base = osp.join(cuhk(root), 'annotation', 'test')
    first = None
    for size in CUHK_GALLERY_SIZES:
        path = osp.join(base, 'train_test', f'TestG{size}.mat')
        queries, _ = load_protocol(path, f'TestG{size}')
        assert len(queries) == TINY['cuhk_test_ids']
        first = first or queries
        check_galleries(queries, boxes, pool, min(size, len(pool) - 1))
        # the same queries, in the same order, in every TestG*.mat
        assert all(a[0] == b[0] and a[2] == b[2] and np.all(a[1] == b[1])
                   for (a, _), (b, _) in zip(queries, first))
    ids = [q[2] for q, _ in first]
    assert len(set(ids)) == len(ids)


def check_galleries(queries, boxes, pool, size):
    for (q_im, q_box, _), gallery in queries:
        assert q_im in pool and has_box(boxes[q_im], q_box)
        names = [g for g, _ in gallery]
        assert len(names) == len(set(names)) == size
        assert q_im not in names and set(names) <= set(pool)
        hits = [box is not None for _, box in gallery]
        assert hits[0] and hits == sorted(hits, reverse=True)
        for name, box in gallery:
            assert box is None or has_box(boxes[name], box)


def test_cuhk_subsets(data):
    root, _ = data
    base = osp.join(cuhk(root), 'annotation', 'test', 'subset')
    pool = load_pool(root)
    boxes, _ = load_images_mat(root)
    size = min(100, len(pool) - 1)
    occl, raw = load_protocol(osp.join(base, 'Occlusion.mat'), 'Occlusion1')
    assert raw.dtype.names == ('Query', 'Gallery', 'occlusion')
    res, raw = load_protocol(osp.join(base, 'Resolution.mat'), 'Test_Size')
    assert raw.dtype.names == ('Query', 'Gallery')
    assert len(occl) >= 2 and len(res) >= 2
    check_galleries(occl, boxes, pool, size)
    check_galleries(res, boxes, pool, size)
    areas = [q[1][2] * q[1][3] for q, _ in load_protocol(
        osp.join(base, '..', 'train_test', 'TestG50.mat'), 'TestG50')[0]]
    assert max(q[1][2] * q[1][3] for q, _ in res) <= sorted(areas)[len(res)
                                                                   - 1]


def test_cuhk_identities_disjoint(data):
    root, _ = data
    pool = set(load_pool(root))
    train_images = {im for _, apps in load_train(root) for im, _ in apps}
    path = osp.join(cuhk(root), 'annotation', 'test', 'train_test',
                    'TestG50.mat')
    queries, _ = load_protocol(path, 'TestG50')
    test_images = {q[0] for q, _ in queries} | {
        g for _, gallery in queries for g, box in gallery if box is not None}
    assert not train_images & pool and test_images <= pool
    train_ids = {idname for idname, _ in load_train(root)}
    assert not train_ids & {q[2] for q, _ in queries}


PROTOCOLS = [(osp.join('train_test', f'TestG{size}.mat'), f'TestG{size}')
             for size in CUHK_GALLERY_SIZES] + [
                 (osp.join('subset', 'Occlusion.mat'), 'Occlusion1'),
                 (osp.join('subset', 'Resolution.mat'), 'Test_Size')]


@pytest.mark.parametrize('rel,key', PROTOCOLS, ids=[k for _, k in PROTOCOLS])
def test_cuhk_protocols_walk_like_the_legacy_readers(data, rel, key):
    """Issue 15 defect 6: the OIM / NAE / SeqNet evaluation code walks a
    protocol file exactly as below; a gallery entry without the query person
    must have the released 1 x 0 ``idlocate`` (``item[1][0]`` is then an
    empty row; on a 0 x 0 array it raises IndexError)."""
    root, _ = data
    boxes, _ = load_images_mat(root)
    pool = load_pool(root)
    path = osp.join(cuhk(root), 'annotation', 'test', rel)
    protoc = loadmat(path)[key].squeeze()
    assert len(protoc) >= 2
    size = min(int(key[5:]) if key.startswith('TestG') else 100,
               len(pool) - 1)
    for i in range(len(protoc)):
        probe_imname = str(protoc['Query'][i]['imname'][0, 0][0])
        probe_roi = protoc['Query'][i]['idlocate'][0, 0][0].astype(np.int32)
        assert probe_roi.shape == (4, )
        assert has_box(boxes[probe_imname], probe_roi)
        found, names = [], []
        for item in protoc['Gallery'][i].squeeze():
            gallery_imname = str(item[0][0])
            gt = item[1][0].astype(np.int32)
            assert gt.shape in ((4, ), (0, ))
            if gt.size > 0:
                assert has_box(boxes[gallery_imname], gt)
            found.append(gt.size > 0)
            names.append(gallery_imname)
        # every gallery has the query person first, then the other images
        assert len(names) == len(set(names)) == size
        assert probe_imname not in names
        assert found[0] and found == sorted(found, reverse=True)


def test_converter_reads_both_empty_idlocate_shapes(data, tmp_path):
    """The converter reads the released 1 x 0 ``idlocate`` and the 0 x 0
    one (older hand-made files) the same way."""
    from scipy.io import savemat

    from mmqgn.datasets.convert.cuhk_sysu import read_protocol
    root, _ = data
    path = osp.join(cuhk(root), 'annotation', 'test', 'train_test',
                    'TestG50.mat')
    mat = loadmat(path)['TestG50']
    empty = 0
    for gallery in mat['Gallery'].ravel():
        for entry in gallery.ravel():
            if entry['idlocate'].size == 0:
                assert entry['idlocate'].shape == (1, 0)
                entry['idlocate'] = np.zeros((0, 0))
                empty += 1
    assert empty > 0
    old = str(tmp_path / 'TestG50_0x0.mat')
    savemat(old, {'TestG50': mat})
    assert loadmat(old)['TestG50']['Gallery'][0, 0]['idlocate'][
        0, -1].shape == (0, 0)
    released = read_protocol(path, 'TestG50')
    assert read_protocol(old, 'TestG50') == released
    assert sum(box is None for _, _, gallery in released
               for _, box in gallery) == empty


# -------------------------------------------------------------------- PRW
def test_prw_layout(data):
    root, stats = data
    train, test = prw_list(root, 'train'), prw_list(root, 'test')
    assert len(train) == TINY['prw_train_frames']
    assert len(test) == TINY['prw_test_frames'] and not set(train) & set(
        test)
    keys, pids = set(), {'train': set(), 'test': set()}
    for split, frames in (('train', train), ('test', test)):
        for frame in frames:
            assert re.fullmatch(r'c[1-6]s\d+_\d{6}', frame)
            img = cv2.imread(osp.join(root, 'PRW', 'frames', frame + '.jpg'))
            assert img.shape == (H, W, 3)
            key, anno = prw_annotation(root, frame)
            keys.add(key)
            assert anno.dtype == np.float64 and anno.shape[1] == 5
            assert np.all((anno[:, 0] == -2) | (anno[:, 0] > 0))
            for box in anno[:, 1:]:
                check_box(box)
            pids[split] |= set(anno[anno[:, 0] > 0, 0].astype(int))
    assert keys == set(PRW_KEYS)
    assert not pids['train'] & pids['test']
    assert len(pids['test']) == TINY['prw_test_ids']
    assert stats['PRW']['cameras'] == 6


def test_prw_frame_order(data):
    root, _ = data
    frames = prw_list(root, 'train') + prw_list(root, 'test')
    by_cam = defaultdict(list)
    for frame in frames:
        match = re.match(r'c(\d)s(\d+)_(\d+)', frame)
        cam, seq, num = map(int, match.groups())
        by_cam[cam].append((seq, num))
    for items in by_cam.values():
        assert len(set(items)) == len(items)
    assert len(by_cam) == 6


def test_prw_frame_names_increase():
    cams = [1, 2, 1, 1, 3, 2] * 10
    names = prw_frame_names(np.random.default_rng(0), cams)
    assert len(set(names)) == len(names)
    for cam in set(cams):
        mine = [n for n in names if n.startswith(f'c{cam}s')]
        nums = [tuple(map(int, re.match(r'c\ds(\d+)_(\d+)', n).groups()))
                for n in mine]
        assert nums == sorted(nums)
        assert nums[-1][0] == 1 + (len(nums) - 1) // PRW_FRAMES_PER_SEQ


def test_prw_queries(data):
    root, stats = data
    test = prw_list(root, 'test')
    annos = {f: prw_annotation(root, f)[1] for f in test}
    queries = prw_queries(root)
    assert stats['PRW']['queries'] == len(queries)
    cams_of = defaultdict(set)
    for frame, anno in annos.items():
        for pid in anno[anno[:, 0] > 0, 0]:
            cams_of[int(pid)].add(int(frame[1]))
    seen = defaultdict(list)
    for pid, box, frame in queries:
        assert frame in annos
        rows = annos[frame]
        assert has_box(rows[rows[:, 0] == pid, 1:], box)
        others = [f for f, a in annos.items() if f != frame and pid in a[:, 0]]
        assert others, 'every query has a gallery match'
        seen[pid].append(int(frame[1]))
    assert set(seen) == set(cams_of)
    for pid, cams in seen.items():
        assert sorted(cams) == sorted(cams_of[pid])  # one per camera


# ---------------------------------------------------- determinism, content
def snapshot(root):
    """Every .mat content, text file and decoded image under ``root``."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = osp.join(dirpath, name)
            rel = osp.relpath(path, root)
            if name.endswith('.mat'):
                mat = loadmat(path, simplify_cells=True)
                out[rel] = repr({k: v for k, v in mat.items()
                                 if not k.startswith('__')})
            elif name.endswith('.jpg'):
                out[rel] = cv2.imread(path).tobytes()
            else:
                with open(path, 'rb') as f:
                    out[rel] = f.read()
    return out


def test_determinism(data, tmp_path):
    root, stats = data
    again = str(tmp_path / 'again')
    assert make_synthetic_dataset(again, seed=0, **TINY) == stats
    assert snapshot(again) == snapshot(root)
    other = str(tmp_path / 'other')
    make_synthetic_dataset(other, seed=1, datasets=['PRW'], **TINY)
    a, b = snapshot(osp.join(root, 'PRW')), snapshot(osp.join(other, 'PRW'))
    assert a.keys() != b.keys() or any(a[k] != b[k] for k in a)
    frames = set(os.listdir(osp.join(root, 'PRW', 'frames')))
    shared = frames & set(os.listdir(osp.join(other, 'PRW', 'frames')))
    assert all(a[osp.join('frames', f)] != b[osp.join('frames', f)]
               for f in shared)


def torso_color(img, box):
    """Mean colour of a central torso patch, lighting-normalised."""
    x, y, w, h = [int(v) for v in box]
    patch = img[y + int(0.25 * h):y + int(0.4 * h) + 1,
                x + int(0.4 * w):x + int(0.6 * w) + 1]
    return patch.reshape(-1, 3).mean(0) / img.reshape(-1, 3).mean(0)


def triplet_accuracy(feats, labels, rng):
    """How often an identity's two boxes are closer than a third person."""
    wins = total = 0
    for i in range(len(feats)):
        for j in range(i + 1, len(feats)):
            if labels[i] != labels[j]:
                continue
            for k in rng.choice(np.flatnonzero(labels != labels[i]), 5):
                d_same = np.linalg.norm(feats[i] - feats[j])
                wins += d_same < np.linalg.norm(feats[i] - feats[k])
                total += 1
    return wins / total


def test_identity_appearance_is_consistent(data):
    root, _ = data
    feats, labels = [], []
    for k, (_, apps) in enumerate(load_train(root)):
        for im, box in apps:
            img = cv2.imread(osp.join(cuhk(root), 'Image', 'SSM', im))
            feats.append(torso_color(img.astype(np.float64), box))
            labels.append(k)
    feats, labels = np.array(feats), np.array(labels)
    rng = np.random.default_rng(0)
    assert triplet_accuracy(feats, labels, rng) > 0.85
    # the check is real: it fails on shuffled (i.e. random) identities
    assert triplet_accuracy(feats, rng.permutation(labels), rng) < 0.7


def test_plan_split_places():
    sizes = {**DEFAULT_SIZES, **TINY}
    plain = plan_split(np.random.default_rng(0), 14, range(8), 2, sizes)
    ctx = plan_split(np.random.default_rng(0), 14, range(8), 2, sizes, 1)
    assert all('place' not in s for s in plain)
    # the identities of each scene do not depend on the places
    assert [s['ids'] for s in plain] == [s['ids'] for s in ctx]
    # one place per identity group: scenes sharing a person share the place
    place_of = {}
    for scene in ctx:
        for i in scene['ids']:
            assert place_of.setdefault(i, scene['place']) == scene['place']
    assert len({s['place'] for s in ctx}) == 2  # 8 ids, groups of 4
    two = plan_split(np.random.default_rng(0), 14, range(8), 2, sizes, 2)
    assert len({s['place'] for s in two}) > 2


def test_place_background_is_a_pan_of_one_panorama():
    pano = make_background(np.random.default_rng(7),
                           int(W * PLACE_PANORAMA), H)
    starts = set()
    for seed in range(6):
        view = place_background(7, W, H, np.random.default_rng(seed))
        assert view.shape == (H, W, 3)
        x = [x for x in range(pano.shape[1] - W + 1)
             if np.array_equal(pano[:, x:x + W], view)]
        assert len(x) == 1
        starts.add(x[0])
    assert len(starts) > 1  # the camera pans


def test_scene_context_dataset(data, tmp_path):
    root, stats = data
    out = str(tmp_path / 'ctx')
    ctx = make_synthetic_dataset(out, seed=0, group_places=1, **TINY)
    for key in ('images', 'identities', 'queries'):
        assert ctx['CUHK-SYSU'][key] == stats['CUHK-SYSU'][key]
    assert ctx['PRW'] == stats['PRW']  # PRW has its cameras already
    assert snapshot(osp.join(out, 'PRW')) == snapshot(osp.join(root, 'PRW'))
    boxes = load_images_mat(out)[0]
    assert len(boxes) == TINY['cuhk_train_scenes'] + TINY['cuhk_test_scenes']
    assert snapshot(cuhk(out)) != snapshot(cuhk(root))


def test_bad_options(tmp_path):
    with pytest.raises(ValueError):
        make_synthetic_dataset(str(tmp_path), bogus=1)
    with pytest.raises(ValueError):
        make_synthetic_dataset(str(tmp_path), **{**TINY, 'cuhk_test_scenes':
                                                 1})


def test_cli(tmp_path):
    out = str(tmp_path / 'cli')
    flags = [f'--{k.replace("_", "-")}={v}' for k, v in TINY.items()]
    script = osp.join(REPO, 'tools', 'misc', 'make_synthetic_dataset.py')
    result = subprocess.run(
        [sys.executable, script, '--out-dir', out, '--datasets', 'PRW',
         '--seed', '3', '--no-progress', *flags],
        capture_output=True, text=True, check=True)
    assert '| queries |' in result.stdout and 'PRW' in result.stdout
    assert osp.isfile(osp.join(out, 'PRW', 'query_info.txt'))
    assert not osp.exists(osp.join(out, 'CUHK-SYSU'))
