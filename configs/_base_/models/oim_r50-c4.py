# OIM person search: Faster R-CNN C4 on ResNet-50 + identity branch + OIM
# loss (qgn_qeeps.md §2 with the NAE4PS values of §2.2, §6, §14 D1/D8/D10).
# Sizes of the OIM tables are per dataset: override
# model.roi_head.reid_head.loss_reid.{num_person_ids,queue_size}
# (num_person_ids=None: the known pids of the training annotations, sized
# before training by OIMTableSizeHook of default_runtime.py).
norm_cfg = dict(type='BN', requires_grad=False)
pretrained = 'torchvision://resnet50'

model = dict(
    type='OIM',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    # BaseNet = conv1..res4 (1024 channels, stride 16).
    backbone=dict(
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
    rpn_head=dict(
        type='RPNHead',
        in_channels=1024,
        feat_channels=1024,
        # 15 anchors: base sizes 32..512; mmdet ratio = h / w, i.e. the
        # pedestrian-shaped {1, 2, 3} of QEEPS §5.2 (qgn_qeeps.md §2.1).
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[2, 4, 8, 16, 32],
            ratios=[1.0, 2.0, 3.0],
            strides=[16]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    roi_head=dict(
        type='PersonSearchRoIHead',
        # ClsIdenNet = res5 on 14x14 RoIs, global max pool -> 2048.
        shared_head=dict(
            type='ResLayerC5',
            depth=50,
            stage=3,
            stride=2,
            style='pytorch',
            norm_cfg=norm_cfg,
            norm_eval=True,
            pool='max',
            init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(
                type='RoIAlign',
                output_size=14,
                sampling_ratio=2,
                aligned=False),
            out_channels=1024,
            featmap_strides=[16]),
        # ClsNet + RegNet on the pooled 2048-d feature.
        bbox_head=dict(
            type='BBoxHead',
            with_avg_pool=False,
            roi_feat_size=1,
            in_channels=2048,
            num_classes=1,
            reg_class_agnostic=True,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=10.0)),
        # ID Net with gCat (QGN Table 9): 1024->128 || 2048->128, L2.
        reid_head=dict(
            type='PersonEmbeddingHead',
            in_channels=(1024, 2048),
            embed_dim=256,
            gcat=True,
            pool='max',
            loss_reid=dict(
                type='OIMLoss',
                num_person_ids=5532,
                queue_size=5000,
                embed_dim=256,
                scalar=30.0,
                momentum=0.5,
                loss_weight=1.0,
                # NAE4PS: mean over labeled RoIs, no masking (§6.2)
                normalize='labeled'))),
    train_cfg=dict(
        rpn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.7,
                neg_iou_thr=0.3,
                min_pos_iou=0.0,
                match_low_quality=True,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=256,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        rpn_proposal=dict(
            nms_pre=12000,
            max_per_img=2000,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            # foreground IoU >= 0.5, background IoU in [0.1, 0.5) (NAE4PS).
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=(0.1, 0.5),
                min_pos_iou=0.5,
                match_low_quality=False,
                ignore_iof_thr=-1),
            sampler=dict(
                type='RandomSampler',
                num=128,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=True),
            pos_weight=-1,
            debug=False)),
    test_cfg=dict(
        rpn=dict(
            nms_pre=6000,
            max_per_img=300,
            nms=dict(type='nms', iou_threshold=0.7),
            min_bbox_size=0),
        rcnn=dict(
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.4),
            max_per_img=300,
            # confidence-weighted similarity: gallery embeddings x score
            cws=False)))
