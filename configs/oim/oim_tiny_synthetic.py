# Tiny OIM for the synthetic CUHK-SYSU-layout dataset (make it with
# tools/misc/make_synthetic_dataset.py --out-dir data/synthetic and
# tools/dataset_converters/cuhk_sysu.py data/synthetic/CUHK-SYSU): the
# ResNet-50 C4 layout at base width 16 (C4 = 256, C5 = 512), trained from
# scratch (no pretrained weights, trainable BN) on CPU in a few minutes.
_base_ = [
    '../_base_/models/oim_r50-c4.py',
    '../_base_/datasets/synthetic_cuhk_sysu.py',
    '../_base_/default_runtime.py'
]

base_channels = 16
c4, c5 = base_channels * 16, base_channels * 32
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    backbone=dict(
        base_channels=base_channels,
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=None),
    rpn_head=dict(in_channels=c4, feat_channels=c4),
    roi_head=dict(
        shared_head=dict(
            base_channels=base_channels,
            norm_cfg=norm_cfg,
            norm_eval=False,
            init_cfg=None),
        # 7x7 RoIs (not 14x14) keep the res5 head cheap on CPU.
        bbox_roi_extractor=dict(
            roi_layer=dict(output_size=7), out_channels=c4),
        bbox_head=dict(in_channels=c5),
        reid_head=dict(
            in_channels=(c4, c5),
            # info.num_known_ids of the synthetic trainval.json. The GFN
            # rule ('all', not the NAE4PS 'labeled' of the R50 base): the
            # tiny models and the README's numbers were trained with it.
            loss_reid=dict(
                num_person_ids=30, queue_size=64, normalize='all'))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=2000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=50),
        rcnn=dict(max_per_img=50)))

# Adam from scratch: 100 scenes / batch 4 = 25 iterations per epoch,
# 800 iterations (~8 min on 2 CPU cores).
max_epochs = 32
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=16)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[26], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=8, max_keep_ckpts=2))
log_processor = dict(window_size=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# Reproducible runs (the figures in the README come from this seed).
randomness = dict(seed=0)
