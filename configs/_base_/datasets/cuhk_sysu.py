# CUHK-SYSU in the standardized format (docs/data_format.md); prepare it with
# tools/dataset_converters/cuhk_sysu.py. Input: 900x1500 window resize.
dataset_type = 'CUHKSYSUDataset'
data_root = 'data/CUHK-SYSU/'
backend_args = None
img_scale = (1500, 900)

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
# Annotations are loaded before Resize so that a query box is resized with
# its image; predictions are mapped back to original pixels by the model.
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackPersonSearchInputs')
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/trainval.json',
        data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/test.json',
        retrieval_sets=['G100'],
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/test.json',
        retrieval_sets=['G100', 'GOcclusion', 'GResolution'],
        data_prefix=dict(img=''),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))

val_evaluator = dict(
    type='PersonSearchMetric',
    ann_file=data_root + 'annotations/test.json',
    retrieval_sets=['G100'])
test_evaluator = dict(
    type='PersonSearchMetric',
    ann_file=data_root + 'annotations/test.json',
    retrieval_sets=[
        'G50', 'G100', 'G500', 'G1000', 'G2000', 'G4000', 'GOcclusion',
        'GResolution'
    ])
