# QGN / QEEPS person search on ResNet-50 C4 (qgn_qeeps.md §1-§5, D1-D7): the
# OIM of oim_r50-c4.py as a Siamese network whose query and gallery branches
# interact through QSSE (every bottleneck of res2-res4, r = 16), QRPN
# (query crop RoI 7x7 -> FC 1024*49 -> 64 -> 1024, RPN* 3x3 conv 1024 -> 512,
# the 15 pedestrian anchors of the RPN, probability sum with the RPN, D3-D5)
# and QSimNet ((f_q - f_g)^2 -> BN(256) -> FC(256 -> 2)). All parameter names
# of the OIM are kept, so stage 2 loads the stage-1 OIM checkpoint
# (`load_from`); the ImageNet init_cfg stays for training from scratch.
# Ablations (QGN Table 7 / QEEPS Table 1, E4): model.backbone.with_qsse,
# model.with_qrpn, model.with_qsimnet.
_base_ = './oim_r50-c4.py'

model = dict(
    type='QGN',
    # pair batches -> cat([queries, galleries]) (mmqgn/models/detectors/qgn.py)
    data_preprocessor=dict(type='PairDataPreprocessor'),
    backbone=dict(
        type='QSSEResNet', with_qsse=True, qsse_ratio=16, qsse_init_bias=0.0),
    with_qrpn=True,
    with_qsimnet=True,
    qrpn_head=dict(
        type='QRPNHead',
        in_channels=1024,
        feat_channels=512,
        reduction_ratio=16,
        # D3: its own 7x7 pool on the query BaseNet map (RoIPool has no CPU
        # kernel in mmcv; RoIAlign here, type='RoIPool' on GPU if wanted).
        roi_layer=dict(
            type='RoIAlign', output_size=7, spatial_scale=1 / 16,
            sampling_ratio=2),
        anchor_generator=dict(
            type='AnchorGenerator',
            scales=[2, 4, 8, 16, 32],
            ratios=[1.0, 2.0, 3.0],
            strides=[16]),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    roi_head=dict(
        type='QGNRoIHead',
        qsimnet=dict(type='QSimNet', in_channels=256)),
    train_cfg=dict(
        # QRPN anchor sampling (§4.4, T7, T8): 128 anchors, positive IoU >=
        # 0.6 with the target or one of 4 jittered copies, negatives < 0.3
        # with every person of the gallery.
        qrpn=dict(
            assigner=dict(
                type='QRPNAssigner', pos_iou_thr=0.6, neg_iou_thr=0.3),
            sampler=dict(
                type='RandomSampler',
                num=128,
                pos_fraction=0.5,
                neg_pos_ub=-1,
                add_gt_as_proposals=False),
            allowed_border=-1,
            pos_weight=-1,
            jitter=dict(num=4))),
    test_cfg=dict(
        # §5.3 / §9.1 / D7: ClsNet only drops < 0.01; NMS 0.4 on p_same;
        # <= 300 detections.
        rcnn=dict(score_thr=0.01, nms=dict(type='nms', iou_threshold=0.4),
                  max_per_img=300)))
