"""ResLayerC5 shared head and PersonEmbeddingHead (gCat on/off)."""
import pytest
import torch
import torch.nn as nn

from mmqgn.models import PersonEmbeddingHead, ResLayerC5


@pytest.mark.parametrize('pool,shape', [('max', (3, 512)), ('avg', (3, 512)),
                                        (None, (3, 512, 7, 7))])
def test_res_layer_c5_shapes(pool, shape):
    head = ResLayerC5(depth=50, stage=3, base_channels=16, pool=pool)
    assert (head.in_channels, head.out_channels) == (256, 512)
    assert head(torch.randn(3, 256, 14, 14)).shape == shape
    assert head(torch.randn(0, 256, 14, 14)).shape[:2] == (0, 512)


def test_res_layer_c5_checkpoint_keys_and_norm_eval():
    head = ResLayerC5(depth=50, base_channels=64)
    keys = list(head.state_dict())
    # torchvision / mmdet ResNet-50 naming, so Pretrained init loads layer4
    assert 'layer4.0.conv1.weight' in keys
    assert 'layer4.2.bn3.running_var' in keys
    assert head.layer4[0].conv1.weight.shape == (512, 1024, 1, 1)
    head.train()
    assert all(not m.training for m in head.modules()
               if isinstance(m, nn.BatchNorm2d))
    head = ResLayerC5(depth=18, base_channels=16, norm_eval=False).train()
    assert (head.in_channels, head.out_channels) == (64, 128)
    assert head.layer4[0].bn1.training


def test_embedding_head_gcat_dims():
    head = PersonEmbeddingHead(in_channels=(256, 512), embed_dim=64,
                               gcat=True)
    assert head.proj_res4[0].in_features == 256
    assert head.proj_res4[0].out_features == 32
    assert head.proj_res5[0].in_features == 512
    assert head.proj_res5[0].out_features == 32
    head = PersonEmbeddingHead(in_channels=(256, 512), embed_dim=64,
                               gcat=False)
    assert not hasattr(head, 'proj_res4')
    assert head.proj_res5[0].in_features == 512
    assert head.proj_res5[0].out_features == 64


@pytest.mark.parametrize('gcat', [True, False])
def test_embedding_head_forward_unit_norm(gcat):
    head = PersonEmbeddingHead(in_channels=(8, 16), embed_dim=6, gcat=gcat)
    head.init_weights()
    res4, res5 = torch.randn(5, 8, 14, 14), torch.randn(5, 16)
    emb = head(res4, res5)
    assert emb.shape == (5, 6)
    assert torch.allclose(emb.norm(dim=1), torch.ones(5), atol=1e-5)
    # the 4-D res5 map is pooled as well
    assert head(res4, torch.randn(5, 16, 7, 7)).shape == (5, 6)
    # batch of one in training uses the BN running statistics
    assert head.train()(res4[:1], res5[:1]).shape == (1, 6)
    assert head(res4[:0], res5[:0]).shape == (0, 6)


def test_embedding_head_builds_its_loss():
    head = PersonEmbeddingHead(
        in_channels=(8, 16),
        embed_dim=4,
        loss_reid=dict(type='OIMLoss', num_person_ids=3, queue_size=2,
                       embed_dim=4))
    emb = head(torch.randn(4, 8, 7, 7), torch.randn(4, 16))
    losses = head.loss(emb, torch.tensor([0, 1, -1, 2]))
    assert set(losses) == {'loss_oim'} and torch.isfinite(losses['loss_oim'])
