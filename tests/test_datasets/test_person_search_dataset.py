import json
import os.path as osp

import cv2
import numpy as np
import pytest

from mmqgn.datasets import CUHKSYSUDataset, PRWDataset
from mmqgn.datasets.person_search import AnnotationError
from mmqgn.utils import register_all_modules

register_all_modules()

# Two 80x60 scenes: person 7 appears in both, an unlabeled person in img 0.
IMAGES = [
    dict(id=0, file_name='img/a.jpg', height=60, width=80, cam_id=1),
    dict(id=1, file_name='img/b.jpg', height=60, width=80, cam_id=2),
    dict(id=2, file_name='img/empty.jpg', height=60, width=80, cam_id=2),
]
ANNS = [
    dict(id=10, image_id=0, bbox=[4, 6, 20, 40], person_id=7),
    dict(id=11, image_id=0, bbox=[40, 10, 16, 30], person_id=-1),
    dict(id=12, image_id=1, bbox=[50, 5, 20, 50], person_id=7),
    dict(id=13, image_id=1, bbox=[10, 5, 10, 30], person_id=3),
]


def _write(root, images=IMAGES, anns=ANNS, queries=None):
    for img in images:
        pixels = np.full((img['height'], img['width'], 3), 127, np.uint8)
        cv2.imwrite(osp.join(root, img['file_name']), pixels)
    coco = dict(images=images, categories=[dict(id=1, name='person')],
                annotations=[dict(a, category_id=1, iscrowd=0,
                                  is_known=a['person_id'] >= 0,
                                  area=a['bbox'][2] * a['bbox'][3],
                                  iou_thresh=0.5) for a in anns])
    with open(osp.join(root, 'annotations', 'test.json'), 'w') as f:
        json.dump(coco, f)
    if queries is None:
        queries = [dict(ann_id=10, image_id=0, bbox=[4, 6, 20, 40],
                        person_id=7, gallery=[1, 2])]
    rset = dict(name='toy', dataset='toy', ann_file='test.json',
                gallery=None, exclude_query_image=True, camera=None,
                queries=queries)
    with open(osp.join(root, 'retrieval', 'toy.json'), 'w') as f:
        json.dump(rset, f)


@pytest.fixture
def root(tmp_path):
    for sub in ('img', 'annotations', 'retrieval'):
        (tmp_path / sub).mkdir()
    _write(str(tmp_path))
    return str(tmp_path)


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=(160, 120), keep_ratio=True),
    dict(type='RandomFlip', prob=1.0),
    dict(type='PackPersonSearchInputs')
]


def _dataset(root, cls=CUHKSYSUDataset, **kwargs):
    return cls(data_root=root, ann_file='annotations/test.json',
               data_prefix=dict(img=''), pipeline=PIPELINE, **kwargs)


def test_train_mode_identities_survive_resize_and_flip(root):
    ds = _dataset(root, filter_cfg=dict(filter_empty_gt=True))
    assert len(ds) == 2  # the empty scene is filtered out
    assert ds.metainfo['num_person_ids'] == 2  # known ids 3 and 7
    sample = ds[0]['data_samples']
    gt = sample.gt_instances
    assert gt.person_ids.tolist() == [7, -1]
    assert gt.person_labels.tolist() == [1, -1]  # sorted known ids (3, 7)
    # x2 of the first box after a 2x resize and a horizontal flip
    np.testing.assert_allclose(gt.bboxes.tensor[0].tolist(),
                               [160 - 48, 12, 160 - 8, 92])
    assert sample.is_query is False and sample.cam_id == 1


def test_test_mode_appends_queries_with_their_box(root):
    ds = _dataset(root, PRWDataset, test_mode=True, retrieval_sets=['toy'])
    assert len(ds) == 4  # three gallery scenes + one query
    query = ds[3]['data_samples']
    assert query.is_query and query.query_ann_id == 10
    assert query.img_id == 0
    assert query.gt_instances.person_ids.tolist() == [7]
    np.testing.assert_allclose(query.gt_instances.bboxes.tensor[0].tolist(),
                               [160 - 48, 12, 160 - 8, 92])
    assert not ds[0]['data_samples'].is_query


def test_malformed_annotation_names_file_and_entry(root):
    bad = [dict(ANNS[0], bbox=[4, 6, 0, 40])] + ANNS[1:]
    _write(root, anns=bad)
    with pytest.raises(AnnotationError, match=r'test\.json.*annotation 10'):
        _dataset(root)


def test_query_box_outside_image_is_rejected(root):
    query = dict(ann_id=10, image_id=0, bbox=[70, 6, 20, 40], person_id=7,
                 gallery=[1])
    _write(root, queries=[query])
    with pytest.raises(AnnotationError, match=r'toy\.json.*query 10.*outside'):
        _dataset(root, test_mode=True, retrieval_sets=['toy'])


def test_corrupt_image_names_the_file(root):
    with open(osp.join(root, 'img', 'b.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    ds = _dataset(root, test_mode=True)
    with pytest.raises(Exception, match='b.jpg'):
        ds[1]
