# SeqNeXt with the ResNet-50 backbone (gfn_seqnext.md §2.2, decision 13;
# Table 2 "SeqNeXt / SeqNeXt+GFN, ResNet50"): conv1..res4 (C4 = 1024,
# stride 16) as in torchvision IMAGENET1K_V1, every BN frozen (statistics
# and affine), conv1 and res2 (stage 1) frozen as the reference code's
# freeze_layer1; res5 (C5 = 2048, stride 2, global max pool) as the conv5
# head of both RoI stages (prop_shared_head None = a copy) and of the GFN
# scene branch; 2048-d embedding (1024->1024 || 2048->1024). The heads, the
# losses, the train/test settings and ``gfn_cfg`` are those of the
# ConvNeXt-B base.
_base_ = './seqnext_convnext-b.py'

pretrained = 'torchvision://resnet50'
c4, c5 = 1024, 2048
norm_cfg = dict(type='BN', requires_grad=False)
conv5_head = dict(
    _delete_=True,
    type='ResLayerC5',
    depth=50,
    stage=3,
    stride=2,
    style='pytorch',
    norm_cfg=norm_cfg,
    norm_eval=True,
    pool='max',
    init_cfg=dict(type='Pretrained', checkpoint=pretrained))

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=1,
        norm_cfg=norm_cfg,
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    rpn_head=dict(in_channels=c4, feat_channels=c4),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=c4),
        shared_head=conv5_head,
        prop_bbox_head=dict(in_channels=c5),
        bbox_head=dict(in_channels=c5),
        reid_head=dict(in_channels=(c4, c5))))
