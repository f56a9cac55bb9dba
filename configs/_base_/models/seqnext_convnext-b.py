# SeqNeXt person search without the GFN (gfn_seqnext.md §1-2, decisions
# 12-16 and 20): ConvNeXt-Base "conv1-4" backbone (C4 = 512, stride 16),
# single-level RPN, two sequential RoI stages on conv5 head copies
# (C5 = 1024), 2048-d embedding (512->1024 || 1024->1024, L2) + OIM.
# default_runtime.py imports mmqgn, which registers every module used here.
# Sizes of the OIM tables are per dataset: override
# model.roi_head.reid_head.loss_reid.{num_person_ids,queue_size}
# (CUHK-SYSU 5532 / 5000, PRW: None / 500; num_person_ids=None takes the
# known pids of the training split from its annotations, OIMTableSizeHook).
# ``gfn_cfg`` (below) is the final Gallery Filter Network of §3 / §4.3;
# a leaf config attaches it with
#   model = dict(type='SeqNeXtWithGFN', gfn=_base_.gfn_cfg)
# mmpretrain IN-1k ConvNeXt-B (83.85%; the paper used torchvision's 84.06%).
pretrained = ('https://download.openmmlab.com/mmclassification/v0/convnext/'
              'convnext-base_3rdparty_32xb128_in1k_20220124-d0915162.pth')
arch = 'base'
c4, c5 = 512, 1024
embed_dim = 2048
# torchvision's stochastic_depth_prob for Base, over all 36 blocks: the
# stage-4 blocks of each conv5 head copy use p = 0.47-0.5 (§2.2).
drop_path_rate = 0.5
conv5_head = dict(
    type='ConvNeXtC5Head',
    arch=arch,
    drop_path_rate=drop_path_rate,
    layer_scale_init_value=1e-6,
    pool='max',
    init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                  prefix='backbone.'))

model = dict(
    type='SeqNeXt',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    # stem + stages 1-3; only the stem is frozen (decision 12).
    backbone=dict(
        type='ConvNeXtC4',
        arch=arch,
        drop_path_rate=drop_path_rate,
        layer_scale_init_value=1e-6,
        frozen_stem=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained,
                      prefix='backbone.')),
    rpn_head=dict(
        type='RPNHead',
        in_channels=c4,
        feat_channels=c4,
        # 15 anchors per location: sizes 32..512 x ratios (h/w) 0.5, 1, 2.
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[2, 4, 8, 16, 32],
            ratios=[0.5, 1.0, 2.0],
            strides=[16]),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        loss_bbox=dict(type='SmoothL1Loss', beta=1.0 / 9.0, loss_weight=1.0)),
    roi_head=dict(
        type='SeqNeXtRoIHead',
        bbox_roi_extractor=dict(
            type='SingleRoIExtractor',
            roi_layer=dict(
                type='RoIAlign',
                output_size=14,
                sampling_ratio=2,
                aligned=False),
            out_channels=c4,
            featmap_strides=[16]),
        # stage 1 (RCNN1): conv5 copy #1 (None = a copy of shared_head's
        # config) + Fast R-CNN predictor, 2-class softmax, class-specific
        # regression, coder weights (10, 10, 5, 5), regression weight 10.
        prop_shared_head=None,
        prop_bbox_head=dict(
            type='BBoxHead',
            with_avg_pool=False,
            roi_feat_size=1,
            in_channels=c5,
            num_classes=1,
            reg_class_agnostic=False,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(
                type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=10.0)),
        # stage 2 (RCNN2): conv5 copy #2, shared with the embedding head;
        # one sigmoid logit (BCE) + class-agnostic regression.
        shared_head=conv5_head,
        bbox_head=dict(
            type='BBoxHead',
            with_avg_pool=False,
            roi_feat_size=1,
            in_channels=c5,
            num_classes=1,
            reg_class_agnostic=True,
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0.0, 0.0, 0.0, 0.0],
                target_stds=[0.1, 0.1, 0.2, 0.2]),
            loss_cls=dict(type='PersonBCELoss', loss_weight=1.0),
            loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
        # [maxpool(conv4 RoI) -> 1024 || maxpool(conv5) -> 1024], BN, L2.
        reid_head=dict(
            type='PersonEmbeddingHead',
            in_channels=(c4, c5),
            embed_dim=embed_dim,
            gcat=True,
            pool='max',
            loss_reid=dict(
                type='OIMLoss',
                num_person_ids=5532,
                queue_size=5000,
                embed_dim=embed_dim,
                scalar=30.0,
                momentum=0.5,
                loss_weight=1.0,
                # GFN code: divide by all foreground RoIs, mask empty rows
                # (gfn_seqnext.md §2.7)
                normalize='all'))),
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
        # both RoI stages: IoU >= 0.5 foreground, < 0.5 background, 128 RoIs
        # per image, half positive, GT appended.
        rcnn=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.5,
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
            # stage 1: softmax > 0.5, NMS 0.4, top 300 (decision 14)
            prop=dict(
                score_thr=0.5,
                nms=dict(type='nms', iou_threshold=0.4),
                max_per_img=300,
                min_bbox_size=1e-2),
            # stage 2: sigmoid > 0.5, NMS 0.5, top 300
            score_thr=0.5,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=300,
            min_bbox_size=1e-2,
            # confidence-weighted similarity: embeddings x stage-2 score
            cws=True)))

# The final GFN (§3, §4.3 "Final", decisions 1-11): combined objective with
# Batch query embeddings (decision 9; the ablation baseline uses 'proto'),
# scene pool 56x56 on the valid C4 map, fusion beta 0.2, NT-Xent tau 0.1,
# score sigmoid(cos / 1), no hard filtering, P1N1 scene LUT. Its scene head
# and embedding head are deep copies of roi_head.shared_head / reid_head.
gfn_cfg = dict(
    type='GalleryFilterNetwork',
    mode='combined',
    query_mode='batch',
    pool_size=56,
    beta=0.2,
    score_temperature=1.0,
    filter_neg=True,
    loss=dict(type='NTXentLoss', temperature=0.1),
    lut=dict(num_pos=1, num_neg=1))
