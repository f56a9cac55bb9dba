"""QSSE trains in every block of the ResNet-50 paper configs, res2 included
although ``frozen_stages=1`` freezes res2's ResNet weights (qgn_qeeps.md
§3.3, D2; issue 15 defect 1). One training step with random weights on one
small pair (two 96x160 images) and few proposals."""
import os.path as osp

import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmqgn.registry import MODELS
from mmqgn.utils import register_all_modules

register_all_modules()

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = ['configs/qgn/qgn_r50-c4_cuhk-sysu.py',
           'configs/qeeps/qeeps_r50-c4_cuhk-sysu.py']
H, W = 96, 160
#: (x1, y1, x2, y2), OIM label; person 0 is the query
GALLERY = [((20, 10, 60, 90), 0), ((100, 12, 140, 92), -1)]
QUERY = [((70, 8, 110, 88), 0)]


@pytest.fixture(autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _build(path):
    init_default_scope('mmqgn')
    cfg = Config.fromfile(osp.join(ROOT, path)).model
    cfg.backbone.init_cfg = None  # no download: random weights
    cfg.roi_head.shared_head.init_cfg = None
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=16)
    cfg.train_cfg.rcnn.sampler.num = 8
    cfg.train_cfg.qrpn.sampler.num = 16
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _sample(people, is_query):
    ds = DetDataSample(metainfo=dict(
        img_id=int(is_query), img_shape=(H, W), ori_shape=(H, W),
        scale_factor=(1.0, 1.0), flip=False, is_query=is_query,
        query_ann_id=5))
    labels = torch.tensor([label for _, label in people])
    ds.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(
            torch.tensor([b for b, _ in people], dtype=torch.float)),
        labels=torch.zeros(len(people), dtype=torch.long),
        person_labels=labels,
        person_ids=labels + 100 * (labels >= 0))
    return ds


def _pair(model):
    g = torch.Generator().manual_seed(0)
    query, gallery = (torch.randint(0, 256, (3, H, W), generator=g,
                                    dtype=torch.uint8) for _ in range(2))
    batch = dict(inputs=dict(query=[query], gallery=[gallery]),
                 data_samples=dict(query=[_sample(QUERY, True)],
                                   gallery=[_sample(GALLERY, False)]))
    return model.data_preprocessor(batch, True)


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_every_qsse_trains_despite_frozen_stages(path):
    model = _build(path)
    assert model.backbone.frozen_stages == 1
    model.train()  # mmdet re-freezes layer1 here
    qsse = {n: p for n, p in model.named_parameters() if '.qsse.' in n}
    assert len(qsse) == 13 * 4  # fc1, fc2 (weight, bias) of 13 blocks
    assert any(n.startswith('backbone.layer1.') for n in qsse)
    frozen = [n for n, p in qsse.items() if not p.requires_grad]
    assert frozen == []
    # the ResNet weights of res2 stay frozen
    assert not model.backbone.layer1[0].conv1.weight.requires_grad
    assert model.backbone.layer1[0].qsse.training
    losses = model(**_pair(model), mode='loss')
    total = sum(sum(v) if isinstance(v, list) else v
                for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    no_grad = [n for n, p in qsse.items()
               if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
