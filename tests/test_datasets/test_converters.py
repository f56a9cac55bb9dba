"""Tests of the raw CUHK-SYSU / PRW converters (mmqgn.datasets.convert).

Small raw datasets are written here with scipy.io.savemat following
docs/data_format.md section 1; the synthetic generator
(mmqgn.datasets.synthetic) is used for an end-to-end run when present.
"""
import importlib.util
import json
import math
import os
import os.path as osp
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from mmqgn.datasets.convert import (ConversionError, convert_cuhk_sysu,
                                    convert_prw, format_stats, iou_thresh)
from mmqgn.datasets.convert import common, prw

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PARTS = ('trainval', 'train', 'val', 'test')
CUHK_SETS = ('G50', 'G100', 'G500', 'GFull', 'GOcclusion', 'GResolution',
             'val')
PRW_SETS = ('test', 'same_cam', 'cross_cam', 'mini', 'val')


# --------------------------------------------------------------------------
# raw fixtures
# --------------------------------------------------------------------------
def _struct(n, fields):
    return np.zeros((1, n), dtype=[(f, 'O') for f in fields])


def _cell(items):
    arr = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        arr[i, 0] = item
    return arr


def _jpeg(path, size=(200, 150)):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.new('RGB', size, (90, 120, 150)).save(path, quality=70)


def _box(b):
    return np.array([b], dtype=np.float64)


# CUHK-SYSU: image -> boxes of Images.mat. s1-s6 trainval, s7-s10 test.
CUHK_IMAGES = {
    's1.jpg': [[10, 10, 30, 60], [60, 20, 25, 50]],
    's2.jpg': [[5, 5, 40, 80], [80, 10, 30, 70], [120, 30, 0, 40]],
    's3.jpg': [[10, 10, 30, 60], [100, 40, 20, 50]],
    's4.jpg': [[20, 20, 30, 30]],
    's5.jpg': [[30, 30, 40, 40], [90, 30, 40, 40]],
    's6.jpg': [[1, 1, 50, 50]],
    's7.jpg': [[10, 20, 30, 60], [70, 20, 30, 60]],
    's8.jpg': [[15, 25, 30, 60], [100, 20, 35, 70]],
    's9.jpg': [[40, 30, 30, 60]],
    's10.jpg': [[50, 50, 20, 40]],
}
CUHK_TEST = ['s7.jpg', 's8.jpg', 's9.jpg', 's10.jpg']
# Train.mat: identity index + 1 = person id; (image, idlocate)
CUHK_TRAIN = [
    [('s1.jpg', [10, 10, 30, 60]), ('s2.jpg', [5.4, 5.9, 40.2, 80.7])],
    [('s2.jpg', [80, 10, 30, 70]), ('s3.jpg', [100, 40, 20, 50]),
     ('s3.jpg', [55, 55, 20, 20])],  # the last box matches nothing
    [('s4.jpg', [20, 20, 30, 30]), ('s5.jpg', [90, 30, 40, 40])],
]
# TestG*: (query image, box, [(gallery image, box or None)])
CUHK_QUERIES = [
    ('s7.jpg', [10, 20, 30, 60], [('s8.jpg', [15, 25, 30, 60]),
                                  ('s9.jpg', None), ('s10.jpg', None)]),
    ('s8.jpg', [100, 20, 35, 70], [('s9.jpg', [40, 30, 30, 60]),
                                   ('s7.jpg', None), ('s10.jpg', None)]),
]


def _protocol(queries, extra_fields=()):
    arr = _struct(len(queries), ['Query', 'Gallery'] + list(extra_fields))
    for q, (name, box, gallery) in enumerate(queries):
        query = _struct(1, ['imname', 'idlocate', 'ishard', 'idname'])
        query[0, 0] = (np.array([name]), _box(box), _box([0]),
                       np.array([f'p{q}']))
        gal = _struct(len(gallery), ['imname', 'idlocate', 'ishard'])
        for g, (gname, gbox) in enumerate(gallery):
            empty = gbox is None
            gal[0, g] = (np.array([gname]),
                         np.zeros((0, 0)) if empty else _box(gbox),
                         np.zeros((0, 0)) if empty else _box([0]))
        arr[0, q]['Query'], arr[0, q]['Gallery'] = query, gal
        for f in extra_fields:
            arr[0, q][f] = _box([1])
    return arr


def write_cuhk(root, images=None, train=None, queries=None):
    images = CUHK_IMAGES if images is None else images
    train = CUHK_TRAIN if train is None else train
    queries = CUHK_QUERIES if queries is None else queries
    ann = osp.join(root, 'annotation')
    tt = osp.join(ann, 'test', 'train_test')
    sub = osp.join(ann, 'test', 'subset')
    for d in (tt, sub):
        os.makedirs(d)
    img = _struct(len(images), ['imname', 'nAppear', 'box'])
    for i, (name, boxes) in enumerate(images.items()):
        box = _struct(len(boxes), ['idlocate', 'ishard'])
        for j, b in enumerate(boxes):
            box[0, j] = (_box(b), _box([0]))
        img[0, i] = (np.array([name]), _box([len(boxes)]), box)
        size = (120, 90) if name == 's6.jpg' else (200, 150)
        _jpeg(osp.join(root, 'Image', 'SSM', name), size)
    savemat(osp.join(ann, 'Images.mat'), {'Img': img})
    savemat(osp.join(ann, 'pool.mat'), {'pool': _cell(CUHK_TEST)})
    people = []
    for k, scenes in enumerate(train):
        person = _struct(1, ['idname', 'nAppear', 'scene'])
        scene = _struct(len(scenes), ['imname', 'idlocate', 'ishard'])
        for j, (name, b) in enumerate(scenes):
            scene[0, j] = (np.array([name]), _box(b), _box([0]))
        person[0, 0] = (np.array([f'p{k}']), _box([len(scenes)]), scene)
        people.append(person)
    savemat(osp.join(tt, 'Train.mat'), {'Train': _cell(people)})
    for size in (50, 100, 500):
        savemat(osp.join(tt, f'TestG{size}.mat'),
                {f'TestG{size}': _protocol(queries)})
    savemat(osp.join(sub, 'Occlusion.mat'),
            {'Occlusion1': _protocol(queries[:1], ['occlusion'])})
    savemat(osp.join(sub, 'Resolution.mat'),
            {'Test_Size': _protocol(queries[1:])})
    return root


# PRW: frame -> (annotation key, rows [pid, x, y, w, h])
PRW_TRAIN = {
    'c1s1_000001': ('box_new', [[1, 10, 10, 30, 60], [2, 60, 10, 30, 60],
                                [-2, 100, 10, 30, 60], [9, 150, 5, 30, 60]]),
    'c1s1_000002': ('anno_file', [[1, 12, 10, 30, 60], [3, 70, 10, 30, 60]]),
    'c2s1_000003': ('anno_previous', [[2, -5, 10, 30, 60],
                                      [4, 90, 10, 30, 60]]),
    'c2s1_000004': ('box_new', [[5, 10, 10, 30, 60], [6, 50, 5, 30, 60]]),
    'c3s1_000005': ('box_new', [[5, 14, 10, 30, 60], [-2, 90, 8, 30, 60]]),
    'c3s1_000006': ('box_new', [[7, 10, 10, 30, 60]]),
    'c4s1_000007': ('box_new', [[6, 10, 10, 30, 60], [8, 40, 10, 30, 60]]),
    'c4s1_000008': ('box_new', [[9, 10, 10, 30, 60]]),
}
PRW_TEST = {
    'c1s2_000101': ('box_new', [[20, 10.2, 10, 30.4, 60], [-2, 50, 0, 9, 9]]),
    'c1s2_000102': ('anno_file', [[20, 12, 10, 30, 60], [21, -3, -2, 30, 60]]),
    'c2s2_000103': ('anno_previous', [[20, 80, 10, 30, 60],
                                      [21, 40, 10, 30, 60]]),
    'c3s2_000104': ('box_new', [[22, 10, 10, 30, 60], [21, 90, 10, 30, 60]]),
    'c3s2_000105': ('box_new', [[22, 15, 10, 30, 60]]),
}
# query_info.txt lines (pid x y w h frame); the first has a rounding mismatch
PRW_QUERIES = [
    '20 10.2 10 31.4 60 c1s2_000101', '21 -3 -2 30 60 c1s2_000102',
    '22 10 10 30 60 c3s2_000104', '21 40.3 10.1 29.9 60 c2s2_000103'
]


def write_prw(root, train=None, test=None, queries=None):
    train = PRW_TRAIN if train is None else train
    test = PRW_TEST if test is None else test
    queries = PRW_QUERIES if queries is None else queries
    os.makedirs(osp.join(root, 'annotations'))
    for frame, (key, rows) in {**train, **test}.items():
        _jpeg(osp.join(root, 'frames', frame + '.jpg'), (320, 240))
        savemat(osp.join(root, 'annotations', frame + '.jpg.mat'),
                {key: np.array(rows, dtype=np.float64).reshape(-1, 5)})
    savemat(osp.join(root, 'frame_train.mat'),
            {'img_index_train': _cell(list(train))})
    savemat(osp.join(root, 'frame_test.mat'),
            {'img_index_test': _cell(list(test))})
    with open(osp.join(root, 'query_info.txt'), 'w', newline='') as f:
        f.write(''.join(q + '\r\n' for q in queries))
    return root


# --------------------------------------------------------------------------
# output checks
# --------------------------------------------------------------------------
def _load(out, rel):
    with open(osp.join(out, rel)) as f:
        return json.load(f)


def _outputs(out):
    found = []
    for d in ('annotations', 'retrieval'):
        if osp.isdir(osp.join(out, d)):
            found += [f'{d}/{f}' for f in os.listdir(osp.join(out, d))
                      if f.endswith('.json')]  # PRW's raw annotations/
    found += [f for f in os.listdir(out) if f.startswith('.mmqgn-convert')]
    return found


def check_partition(coco, root, dataset, partition):
    assert coco['info'] == dict(
        dataset=dataset, partition=partition,
        num_known_ids=len({a['person_id'] for a in coco['annotations']
                           if a['is_known']}))
    assert coco['categories'] == [dict(id=1, name='person')]
    images = {img['id']: img for img in coco['images']}
    assert len(images) == len(coco['images'])
    for img in coco['images']:
        assert isinstance(img['id'], int)
        with Image.open(osp.join(root, img['file_name'])) as im:
            assert (img['width'], img['height']) == im.size
    ann_ids = set()
    for ann in coco['annotations']:
        assert isinstance(ann['id'], int) and ann['id'] not in ann_ids
        ann_ids.add(ann['id'])
        assert ann['image_id'] in images
        x, y, w, h = ann['bbox']
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert ann['area'] == pytest.approx(w * h)
        assert ann['iou_thresh'] == pytest.approx(
            min(0.5, w * h / ((w + 10) * (h + 10))))
        assert ann['is_known'] == (ann['person_id'] >= 0)
        assert ann['person_id'] >= -1
        assert (ann['category_id'], ann['iscrowd']) == (1, 0)


def check_output(out, root, dataset, sets, disjoint):
    colls = {p: _load(out, f'annotations/{p}.json') for p in PARTS}
    for p, coco in colls.items():
        check_partition(coco, root, dataset, p)

    def ids(coco, key):
        return [x['id'] for x in coco[key]]

    for key in ('images', 'annotations'):
        tv, tr, va = (ids(colls[p], key) for p in ('trainval', 'train', 'val'))
        assert sorted(tv) == sorted(tr + va)
        assert not set(tr) & set(va)
        assert not set(tv) & set(ids(colls['test'], key))
    known = {p: {a['person_id'] for a in c['annotations'] if a['is_known']}
             for p, c in colls.items()}
    if disjoint:
        assert not known['train'] & known['val']
    assert sorted(os.listdir(osp.join(out, 'retrieval'))) == sorted(
        f'{s}.json' for s in sets)
    rsets = {s: _load(out, f'retrieval/{s}.json') for s in sets}
    for name, rset in rsets.items():
        check_retrieval(rset, name, dataset, colls)
    assert not [f for f in os.listdir(out) if f.startswith('.mmqgn')]
    return colls, rsets


def check_retrieval(rset, name, dataset, colls):
    assert list(rset) == ['name', 'dataset', 'ann_file', 'gallery',
                          'exclude_query_image', 'camera', 'queries']
    assert (rset['name'], rset['dataset']) == (name, dataset)
    coco = colls[rset['ann_file'][:-len('.json')]]
    anns = {a['id']: a for a in coco['annotations']}
    images = {img['id'] for img in coco['images']}
    assert set(rset['gallery'] or []) <= images
    assert rset['queries']
    for q in rset['queries']:
        ann = anns[q['ann_id']]
        assert q['image_id'] == ann['image_id']
        assert q['bbox'] == ann['bbox']
        assert q['person_id'] == ann['person_id'] >= 0
        assert set(q.get('gallery', [])) <= images


# --------------------------------------------------------------------------
# common pieces
# --------------------------------------------------------------------------
def test_iou_thresh():
    assert iou_thresh(10, 10) == pytest.approx(0.25)
    assert iou_thresh(10, 20) == pytest.approx(200 / (20 * 30))
    assert iou_thresh(100, 200) == 0.5


def _random_coco(rng, n_images=60, n_pids=40):
    images = [dict(id=i + 7) for i in range(n_images)]
    anns = []
    for img in images:
        for pid in rng.choice(n_pids, rng.randint(0, 3), replace=False):
            anns.append(dict(image_id=img['id'], person_id=int(pid),
                             is_known=True))
        anns.append(dict(image_id=img['id'], person_id=-1, is_known=False))
    return dict(images=images, annotations=anns)


def _gfn_split(coco, seed, min_size, reverse, ignore=()):
    """GFN's dense-matrix split (cuhk_utils/prw_utils._split_trainval)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    pids = defaultdict(set)
    for a in coco['annotations']:
        if a['is_known'] and a['person_id'] not in ignore:
            pids[a['image_id']].add(a['person_id'])
    ids = [img['id'] for img in coco['images']]
    adj = np.array([[int(i != j and bool(pids[i] & pids[j])) for j in ids]
                    for i in ids])
    n_cc, labels = connected_components(csr_matrix(adj), directed=False)
    comps = defaultdict(list)
    for i, label in zip(ids, labels):
        comps[label].append(i)
    np.random.seed(seed)
    order = np.random.permutation(n_cc)
    order = order[::-1] if reverse else order
    n_val_tot, train, val = int(np.ceil(len(ids) * 0.2)), [], []
    for label in order:
        if len(val) < n_val_tot and len(comps[label]) >= min_size:
            val.extend(comps[label])
        else:
            train.extend(comps[label])
    return train, val


@pytest.mark.parametrize('seed,min_size,reverse', [(0, 2, False),
                                                   (2, 1, True)])
def test_split_matches_gfn_reference(seed, min_size, reverse):
    coco = _random_coco(np.random.RandomState(seed))
    ignore = common.most_common_pids(coco, 3) if reverse else []
    ours = common.split_trainval(coco, seed=seed, min_component_size=min_size,
                                 reverse=reverse, ignore_pids=ignore)
    assert ours == _gfn_split(coco, seed, min_size, reverse, ignore)
    train, val = ours
    assert len(val) >= math.ceil(0.2 * len(coco['images']))
    assert sorted(train + val) == [img['id'] for img in coco['images']]


def test_write_outputs_is_all_or_nothing(tmp_path, monkeypatch):
    calls = []
    real_dump = json.dump

    def failing_dump(obj, f):
        calls.append(obj)
        if len(calls) == 3:
            raise OSError('disk full')
        real_dump(obj, f)

    monkeypatch.setattr(common.json, 'dump', failing_dump)
    files = {f'annotations/{i}.json': {'i': i} for i in range(4)}
    with pytest.raises(OSError):
        common.write_outputs(str(tmp_path), files)
    assert _outputs(str(tmp_path)) == []
    monkeypatch.setattr(common.json, 'dump', real_dump)
    common.write_outputs(str(tmp_path), files)
    assert sorted(_outputs(str(tmp_path))) == sorted(files)


# --------------------------------------------------------------------------
# CUHK-SYSU
# --------------------------------------------------------------------------
def _by_box(coco):
    names = {img['id']: img['file_name'] for img in coco['images']}
    return {(names[a['image_id']].split('/')[-1], tuple(a['bbox'])):
            a['person_id'] for a in coco['annotations']}


def test_cuhk_annotations(tmp_path):
    root = write_cuhk(str(tmp_path / 'CUHK-SYSU'))
    out = str(tmp_path / 'out')
    stats = convert_cuhk_sysu(root, out, show_progress=False)
    colls, _ = check_output(out, root, 'CUHK-SYSU', CUHK_SETS, disjoint=True)
    trainval, test = colls['trainval'], colls['test']
    assert [i['file_name'] for i in trainval['images']] == [
        f'Image/SSM/s{i}.jpg' for i in range(1, 7)]
    assert [i['file_name'] for i in test['images']] == [
        f'Image/SSM/{n}' for n in CUHK_TEST]
    s6 = trainval['images'][5]
    assert (s6['width'], s6['height'], s6['cam_id']) == (120, 90, -1)
    pids = _by_box(trainval)
    assert ('s2.jpg', (120.0, 30.0, 0.0, 40.0)) not in pids  # w = 0 dropped
    assert pids == {
        ('s1.jpg', (10., 10., 30., 60.)): 1,
        ('s1.jpg', (60., 20., 25., 50.)): -1,
        ('s2.jpg', (5., 5., 40., 80.)): 1,  # Train box 5.4 5.9 40.2 80.7
        ('s2.jpg', (80., 10., 30., 70.)): 2,
        ('s3.jpg', (10., 10., 30., 60.)): -1,  # only in s1 for id 1
        ('s3.jpg', (100., 40., 20., 50.)): 2,
        ('s4.jpg', (20., 20., 30., 30.)): 3,
        ('s5.jpg', (30., 30., 40., 40.)): -1,
        ('s5.jpg', (90., 30., 40., 40.)): 3,
        ('s6.jpg', (1., 1., 50., 50.)): -1,
    }
    assert _by_box(test) == {
        ('s7.jpg', (10., 20., 30., 60.)): 1,
        ('s7.jpg', (70., 20., 30., 60.)): -1,
        ('s8.jpg', (15., 25., 30., 60.)): 1,
        ('s8.jpg', (100., 20., 35., 70.)): 2,
        ('s9.jpg', (40., 30., 30., 60.)): 2,
        ('s10.jpg', (50., 50., 20., 40.)): -1,
    }
    assert trainval['info']['num_known_ids'] == 3
    assert test['info']['num_known_ids'] == 2
    # components {s1, s2, s3}, {s4, s5}, {s6}: val is one of the first two
    val_names = {i['file_name'][-6:] for i in colls['val']['images']}
    assert val_names in ({'s1.jpg', 's2.jpg', 's3.jpg'}, {'s4.jpg', 's5.jpg'})
    assert stats['shared_train_val_ids'] == 0
    assert stats['partitions']['trainval'] == dict(
        scenes=6, boxes=10, known_ids=3, known_boxes=6, unknown_boxes=4)
    assert stats['partitions']['test']['boxes'] == 6
    assert 'Known IDs' in format_stats(stats)


def test_cuhk_retrieval_sets(tmp_path):
    root = write_cuhk(str(tmp_path / 'CUHK-SYSU'))
    stats = convert_cuhk_sysu(root, show_progress=False)  # out_dir = root
    colls, rsets = check_output(root, root, 'CUHK-SYSU', CUHK_SETS, True)
    test_ids = {i['file_name'][10:]: i['id'] for i in colls['test']['images']}
    expected = [[test_ids[g] for g, _ in gal] for _, _, gal in CUHK_QUERIES]
    for name in ('G50', 'G100', 'G500'):
        rset = rsets[name]
        assert rset['ann_file'] == 'test.json'
        assert (rset['gallery'], rset['camera']) == (None, None)
        assert [q['gallery'] for q in rset['queries']] == expected
        assert [q['person_id'] for q in rset['queries']] == [1, 2]
        assert [q['image_id'] for q in rset['queries']] == [
            test_ids['s7.jpg'], test_ids['s8.jpg']]
    full = rsets['GFull']
    assert full['queries'] == rsets['G50']['queries']
    assert full['gallery'] == sorted(test_ids.values())
    assert full['exclude_query_image'] is True
    assert [q['gallery'] for q in rsets['GOcclusion']['queries']] == \
        expected[:1]
    assert [q['person_id'] for q in rsets['GResolution']['queries']] == [2]
    assert stats['retrieval'] == dict(G50=2, G100=2, G500=2, GFull=2,
                                      GOcclusion=1, GResolution=1,
                                      val=stats['retrieval']['val'])


def test_val_retrieval_set(tmp_path):
    root = write_cuhk(str(tmp_path / 'CUHK-SYSU'))
    convert_cuhk_sysu(root, show_progress=False)
    val = _load(root, 'annotations/val.json')
    rset = _load(root, 'retrieval/val.json')
    assert (rset['ann_file'], rset['gallery']) == ('val.json', None)
    holders = defaultdict(list)
    for a in val['annotations']:
        if a['is_known']:
            holders[a['person_id']].append(a)
    expected = sorted(a['id'] for anns in holders.values() if len(anns) > 1
                      for a in anns)
    assert sorted(q['ann_id'] for q in rset['queries']) == expected
    n_images = len(val['images'])
    for q in rset['queries']:
        gallery = q['gallery']
        assert q['image_id'] not in gallery
        assert len(gallery) == len(set(gallery)) == min(100, n_images - 1)
        others = {a['image_id'] for a in holders[q['person_id']]} - {
            q['image_id']}
        assert gallery[:len(others)] == sorted(others, key=gallery.index)
        assert others <= set(gallery)


def test_val_gallery_padding():
    images = [dict(id=i) for i in range(300)]
    anns = [dict(id=i, image_id=i * 2, bbox=[0, 0, 1, 1], person_id=5,
                 is_known=True) for i in range(3)]
    coco = common.build_coco('PRW', 'val', images, anns)
    rset = common.build_val_retrieval(coco)
    assert len(rset['queries']) == 3
    for q in rset['queries']:
        gallery = q['gallery']
        assert len(gallery) == len(set(gallery)) == 100
        assert gallery[:2] == [i for i in (0, 2, 4) if i != q['image_id']]
        assert q['image_id'] not in gallery
    assert common.build_val_retrieval(coco) == rset  # seeded


# --------------------------------------------------------------------------
# PRW
# --------------------------------------------------------------------------
def test_prw_annotations_and_retrieval(tmp_path):
    root = write_prw(str(tmp_path / 'PRW'))
    out = str(tmp_path / 'out')
    stats = convert_prw(root, out, show_progress=False)
    colls, rsets = check_output(out, root, 'PRW', PRW_SETS, disjoint=False)
    trainval, test = colls['trainval'], colls['test']
    assert [i['file_name'] for i in trainval['images']] == [
        f'frames/{f}.jpg' for f in PRW_TRAIN]
    assert [i['cam_id'] for i in trainval['images']] == [1, 1, 2, 2, 3, 3, 4,
                                                         4]
    assert all((i['width'], i['height']) == (320, 240)
               for i in trainval['images'])
    # every key variant was read; pid -2 -> -1; negatives clipped at 0
    for coco, raw in ((trainval, PRW_TRAIN), (test, PRW_TEST)):
        names = {i['id']: i['file_name'][7:-4] for i in coco['images']}
        got = defaultdict(list)
        for a in coco['annotations']:
            got[names[a['image_id']]].append([a['person_id']] + a['bbox'])
        want = {f: [[max(r[0], -1)] + [max(v, 0.) for v in r[1:]]
                    for r in rows] for f, (_, rows) in raw.items()}
        assert dict(got) == want
    assert trainval['info']['num_known_ids'] == 9
    assert test['info']['num_known_ids'] == 3

    test_ids = [i['id'] for i in test['images']]
    names = {i['id']: i['file_name'] for i in test['images']}
    queries = rsets['test']['queries']
    assert [(names[q['image_id']][7:-4], q['person_id']) for q in queries] \
        == [('c1s2_000101', 20), ('c1s2_000102', 21), ('c3s2_000104', 22),
            ('c2s2_000103', 21)]
    assert queries[0]['bbox'] == [10.2, 10.0, 30.4, 60.0]  # rounding fixed
    assert queries[1]['bbox'] == [0.0, 0.0, 30.0, 60.0]  # clipped
    for name, camera, exclude in (('test', None, True),
                                  ('same_cam', 'same', False),
                                  ('cross_cam', 'cross', True),
                                  ('mini', None, True)):
        rset = rsets[name]
        assert rset['gallery'] == test_ids
        assert (rset['camera'], rset['exclude_query_image']) == (camera,
                                                                  exclude)
        assert all('gallery' not in q for q in rset['queries'])
        if name != 'mini':
            assert rset['queries'] == queries
    mini = rsets['mini']['queries']
    assert 0 < len(mini) <= 30 and all(q in queries for q in mini)
    assert stats['retrieval']['mini'] == len(PRW_QUERIES)
    assert stats['partitions']['test'] == dict(
        scenes=5, boxes=9, known_ids=3, known_boxes=8, unknown_boxes=1)


@pytest.mark.parametrize('keys,used', [
    (('box_new', 'anno_file', 'anno_previous'), 'box_new'),
    (('anno_previous', 'anno_file'), 'anno_file'),
    (('anno_previous', ), 'anno_previous'),
])
def test_prw_annotation_key_order(tmp_path, keys, used):
    os.makedirs(tmp_path / 'annotations')
    rows = {k: np.array([[i + 1, 1, 2, 3, 4]], dtype=float)
            for i, k in enumerate(('box_new', 'anno_file', 'anno_previous'))}
    savemat(str(tmp_path / 'annotations' / 'c1s1_000001.jpg.mat'),
            {k: rows[k] for k in keys})
    pids, boxes = prw.read_frame_boxes(str(tmp_path), 'c1s1_000001')
    assert pids.tolist() == rows[used][:, 0].tolist()
    assert boxes.tolist() == [[1, 2, 3, 4]]


def test_prw_mini_published_queries():
    entries = [dict(ann_id=i) for i in range(40)]
    queries = [(1000 + i, None, f'c9s9_{i:06d}', i) for i in range(10)]
    queries += [(pid, None, frame, 0) for pid, frame in prw.PRW_MINI[::-1]]
    mini = prw._mini_queries(queries, entries)
    assert [q['ann_id'] for q in mini] == list(range(39, 9, -1))
    few = prw._mini_queries(queries[:12], entries[:12])
    assert len(few) == 12
    many = prw._mini_queries(queries[:10] * 4, entries)
    assert len(many) == 30 and many == prw._mini_queries(
        queries[:10] * 4, entries)


def test_prw_split_ignores_frequent_ids(tmp_path):
    # pid 1 links all frames; ignoring it (the most frequent of 6 ids)
    # leaves 5 components of 4 frames
    train = {f'c1s1_{i:06d}': ('box_new', [[1, 5, 5, 20, 40],
                                           [10 + i // 4, 40, 5, 20, 40]])
             for i in range(20)}
    root = write_prw(str(tmp_path / 'PRW'), train=train)
    stats = convert_prw(root, show_progress=False)
    parts = stats['partitions']
    assert parts['trainval']['known_ids'] == 6
    assert parts['val']['scenes'] == 4  # ceil(0.2 * 20): one component
    assert stats['shared_train_val_ids'] == 1  # the ignored pid 1


# --------------------------------------------------------------------------
# errors: nothing is written
# --------------------------------------------------------------------------
def _remove(path):
    os.remove(path)


def _rekey(key):
    def fn(path):
        from scipy.io import loadmat
        mat = {k: v for k, v in loadmat(path).items()
               if not k.startswith('__')}
        savemat(path, {key: next(iter(mat.values()))})
    return fn


def _corrupt(path):
    with open(path, 'wb') as f:
        f.write(b'\xff\xd8\xff\xe0 this is not a jpeg')


def _append_query(path):
    with open(path, 'a', newline='') as f:
        f.write('21 200 100 30 60 c1s2_000101\r\n')


def _bad_box(path):
    images = dict(CUHK_IMAGES)
    images['s3.jpg'] = [[10, 10, 30]]
    write_cuhk(path, images=images)


CUHK_ERRORS = [
    ('annotation/Images.mat', _remove, 'Images.mat'),
    ('annotation/pool.mat', _remove, 'pool.mat'),
    ('annotation/test/train_test/TestG100.mat', _remove, 'TestG100.mat'),
    ('annotation/test/train_test/Train.mat', _rekey('Foo'), 'Train.mat'),
    ('annotation/test/subset/Occlusion.mat', _rekey('Occlusion'),
     'Occlusion.mat'),
    ('Image/SSM/s8.jpg', _corrupt, 's8.jpg'),
    ('Image/SSM/s2.jpg', _remove, 's2.jpg'),
]


@pytest.mark.parametrize('rel,damage,needle', CUHK_ERRORS)
def test_cuhk_errors(tmp_path, rel, damage, needle):
    root = write_cuhk(str(tmp_path / 'CUHK-SYSU'))
    damage(osp.join(root, rel))
    with pytest.raises(ConversionError, match=needle.replace('.', r'\.')):
        convert_cuhk_sysu(root, show_progress=False)
    assert _outputs(root) == []


def test_cuhk_bad_box(tmp_path):
    root = str(tmp_path / 'CUHK-SYSU')
    _bad_box(root)
    with pytest.raises(ConversionError, match=r'Images\.mat.*s3\.jpg.*4'):
        convert_cuhk_sysu(root, show_progress=False)
    assert _outputs(root) == []


def test_cuhk_unmatched_query(tmp_path):
    queries = list(CUHK_QUERIES) + [('s9.jpg', [1, 2, 3, 4], [])]
    root = write_cuhk(str(tmp_path / 'CUHK-SYSU'), queries=queries)
    with pytest.raises(ConversionError, match=r'TestG50\.mat.*s9\.jpg'):
        convert_cuhk_sysu(root, show_progress=False)
    assert _outputs(root) == []


PRW_ERRORS = [
    ('frame_test.mat', _remove, 'frame_test.mat'),
    ('frame_train.mat', _rekey('img_index'), 'frame_train.mat'),
    ('annotations/c2s2_000103.jpg.mat', _rekey('boxes'),
     'c2s2_000103.jpg.mat'),
    ('annotations/c1s1_000002.jpg.mat', _remove, 'c1s1_000002.jpg.mat'),
    ('frames/c3s2_000105.jpg', _corrupt, 'c3s2_000105.jpg'),
    ('query_info.txt', _append_query, r'query_info\.txt.*line 5.*c1s2_000101'),
    ('query_info.txt', _remove, 'query_info.txt'),
]


@pytest.mark.parametrize('rel,damage,needle', PRW_ERRORS)
def test_prw_errors(tmp_path, rel, damage, needle):
    root = write_prw(str(tmp_path / 'PRW'))
    damage(osp.join(root, rel))
    out = str(tmp_path / 'out')
    os.makedirs(out)
    with pytest.raises(ConversionError, match=needle):
        convert_prw(root, out, show_progress=False)
    assert _outputs(out) == [] and _outputs(root) == []


def test_prw_bad_annotation_shape(tmp_path):
    root = write_prw(str(tmp_path / 'PRW'))
    savemat(osp.join(root, 'annotations', 'c1s1_000001.jpg.mat'),
            {'box_new': np.ones((2, 4))})
    with pytest.raises(ConversionError, match=r'c1s1_000001\.jpg\.mat.*5'):
        convert_prw(root, show_progress=False)
    assert _outputs(root) == []


# --------------------------------------------------------------------------
# command line tools
# --------------------------------------------------------------------------
def _cli(name):
    path = osp.join(REPO, 'tools', 'dataset_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_cli_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.mark.parametrize('name,writer,broken', [
    ('cuhk_sysu', write_cuhk, 'annotation/Images.mat'),
    ('prw', write_prw, 'frame_test.mat'),
])
def test_cli(tmp_path, capsys, name, writer, broken):
    main = _cli(name)
    root = writer(str(tmp_path / 'raw'))
    out = str(tmp_path / 'out')
    assert main([root, '-o', out, '--no-progress']) == 0
    assert 'Known IDs' in capsys.readouterr().out
    assert osp.isfile(osp.join(out, 'annotations', 'val.json'))
    os.remove(osp.join(root, broken))
    assert main([root, '--no-progress']) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: ') and osp.basename(broken) in err
    assert 'Traceback' not in err


# --------------------------------------------------------------------------
# synthetic generator (end to end)
# --------------------------------------------------------------------------
def test_synthetic_end_to_end(tmp_path):
    synthetic = pytest.importorskip('mmqgn.datasets.synthetic')
    synthetic.make_synthetic_dataset(str(tmp_path), seed=0)
    cuhk, prw_root = str(tmp_path / 'CUHK-SYSU'), str(tmp_path / 'PRW')
    stats = convert_cuhk_sysu(cuhk, show_progress=False)
    sets = [s for s in stats['retrieval']]
    assert {'G50', 'G100', 'GFull', 'val'} <= set(sets)
    check_output(cuhk, cuhk, 'CUHK-SYSU', sets, disjoint=True)
    assert stats['shared_train_val_ids'] == 0
    stats = convert_prw(prw_root, show_progress=False)
    check_output(prw_root, prw_root, 'PRW', PRW_SETS, disjoint=False)
    assert stats['retrieval']['mini'] <= 30
