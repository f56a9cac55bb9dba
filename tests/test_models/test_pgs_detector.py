"""The tiny PGS config builds the PGA identity branch with the AMU update
and runs one training step (PersonSearchRoIHead unchanged in kind)."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmqgn.models import PGAEmbeddingHead
from mmqgn.registry import MODELS
from toy_scenes import toy_batch

ROOT = osp.join(osp.dirname(__file__), '..', '..')
TINY = osp.join(ROOT, 'configs/pgs/pgs_tiny_synthetic.py')


def test_tiny_pgs_one_training_step():
    init_default_scope('mmqgn')
    cfg = Config.fromfile(TINY).model
    assert cfg.roi_head.reid_head.loss_reid.update_rule == 'amu'
    cfg.roi_head.reid_head.loss_reid.update(num_person_ids=4, queue_size=8)
    cfg.train_cfg.rpn_proposal.update(nms_pre=500, max_per_img=100)
    cfg.train_cfg.rcnn.sampler.num = 32
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    head = model.roi_head.reid_head
    assert isinstance(head, PGAEmbeddingHead)
    assert head.loss_reid.update_rule == 'amu'
    model.train()
    inputs, samples = toy_batch()
    losses = model.loss(inputs, samples)
    assert {'loss_oim', 'loss_att', 'loss_cls', 'loss_bbox'} <= set(losses)
    assert losses['loss_att'].item() == 0.0  # the table was empty
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing
    # the toy scenes' labeled people were written by AMU
    assert head.loss_reid.written_rows().tolist() == [True, True, False,
                                                      False]
    # a full table turns the guidance on; L_att reaches the attention
    head.loss_reid.lut[:] = torch.nn.functional.normalize(
        torch.randn(4, 256), dim=1)
    model.zero_grad()
    losses = model.loss(inputs, samples)
    assert losses['loss_att'].item() > 0
    losses['loss_att'].backward()
    assert head.reduce.weight.grad.abs().sum() > 0
    assert head.attention.spatial_se[0].weight.grad.abs().sum() > 0
    assert head.attention.channel_se[0].weight.grad.abs().sum() > 0
    # inference: embeddings of the detections (the embedding contract)
    model.eval()
    with torch.no_grad():
        out = model.predict(inputs, samples)
    emb = out[0].pred_instances.embeddings
    assert emb.shape[1] == 256
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(len(emb)))
