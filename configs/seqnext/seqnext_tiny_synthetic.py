# Tiny SeqNeXt for the synthetic CUHK-SYSU-layout dataset (make it with
# tools/misc/make_synthetic_dataset.py --out-dir data/synthetic and
# tools/dataset_converters/cuhk_sysu.py data/synthetic/CUHK-SYSU): a
# ConvNeXt with depths (1, 1, 1, 1) and channels (16, 32, 64, 128)
# (C4 = 64, C5 = 128), 64-d embeddings, trained from scratch on CPU. The
# stem stays frozen as in the paper: trained from scratch, its zero-init
# conv bias meets LayerNorm's zero variance on the zero padding
# (pad_size_divisor) and gets gradients ~1e4 that swamp gradient clipping.
# The ResNet-50 layout at base width 16 also works: backbone
# ResNet(base_channels=16, num_stages=3, out_indices=(2,)) and ResLayerC5
# heads (C4 = 256, C5 = 512), see tests/test_models/test_seqnext.py.
_base_ = [
    '../_base_/models/seqnext_convnext-b.py',
    '../_base_/datasets/synthetic_cuhk_sysu.py',
    '../_base_/default_runtime.py'
]
depths, channels = [1, 1, 1, 1], [16, 32, 64, 128]
c4, c5 = 64, 128
embed_dim = 64
conv5_head = dict(
    type='ConvNeXtC5Head',
    arch=dict(depths=depths, channels=channels),
    drop_path_rate=0.0,
    pool='max',
    init_cfg=None,
    _delete_=True)

model = dict(
    backbone=dict(
        arch=dict(_delete_=True, depths=depths, channels=channels),
        drop_path_rate=0.0,
        init_cfg=None),
    rpn_head=dict(in_channels=c4, feat_channels=c4),
    roi_head=dict(
        # 7x7 RoIs (not 14x14) keep the conv5 heads cheap on CPU.
        bbox_roi_extractor=dict(
            roi_layer=dict(output_size=7), out_channels=c4),
        shared_head=conv5_head,
        prop_bbox_head=dict(in_channels=c5),
        bbox_head=dict(in_channels=c5),
        reid_head=dict(
            in_channels=(c4, c5),
            embed_dim=embed_dim,
            # info.num_known_ids of the synthetic trainval.json
            loss_reid=dict(
                num_person_ids=30, queue_size=64, embed_dim=embed_dim))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=2000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=50),
        # low thresholds (as the OIM tiny config) so that an early, weak
        # model still returns boxes; the evaluator applies its det_thresh.
        rcnn=dict(
            prop=dict(score_thr=0.05, max_per_img=50),
            score_thr=0.05,
            max_per_img=50)))

# Adam from scratch: 100 scenes / batch 4 = 25 iterations per epoch.
max_epochs = 16
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=8)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[12], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=8))
log_processor = dict(window_size=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
