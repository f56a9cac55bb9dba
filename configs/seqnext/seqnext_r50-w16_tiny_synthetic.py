# Tiny SeqNeXt with the ResNet-50 C4 layout at base width 16 (the backbone of
# configs/oim/oim_tiny_synthetic.py: C4 = 256, C5 = 512), trained from scratch
# on the synthetic CUHK-SYSU-layout dataset with the OIM tiny schedule
# (Adam 1e-3, 32 epochs, x0.1 at 26, seed 0), so that the two models differ
# only in the heads: SeqNeXt's two sequential box heads (gfn_seqnext.md §2.4,
# §2.5) and its max-pooled conv4 || conv5 embedding (§2.6) against OIM's one
# head. The README compares the two on the synthetic test set.
_base_ = ['./seqnext_tiny_synthetic.py']

c4, c5 = 256, 512
embed_dim = 256
norm_cfg = dict(type='BN', requires_grad=True)
resnet_c5 = dict(
    _delete_=True,
    type='ResLayerC5',
    depth=50,
    stage=3,
    base_channels=16,
    norm_cfg=norm_cfg,
    norm_eval=False,
    pool='max',
    init_cfg=None)

model = dict(
    type='SeqNeXt',
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        base_channels=16,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    rpn_head=dict(in_channels=c4, feat_channels=c4),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=c4),
        shared_head=resnet_c5,
        prop_bbox_head=dict(in_channels=c5),
        bbox_head=dict(in_channels=c5),
        reid_head=dict(
            in_channels=(c4, c5),
            embed_dim=embed_dim,
            loss_reid=dict(embed_dim=embed_dim))))

# the schedule of configs/oim/oim_tiny_synthetic.py
max_epochs = 32
train_cfg = dict(max_epochs=max_epochs, val_interval=16)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[26], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=8, max_keep_ckpts=2))
