# The synthetic dataset of tools/misc/make_synthetic_dataset.py, CUHK-SYSU
# layout, converted with tools/dataset_converters/cuhk_sysu.py. Small images
# and light loaders so that the tiny models train on CPU in minutes.
_base_ = './cuhk_sysu.py'

data_root = 'data/synthetic/CUHK-SYSU/'
img_scale = (320, 240)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackPersonSearchInputs')
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        pipeline=test_pipeline,
        retrieval_sets=['G50', 'G100', 'GOcclusion', 'GResolution']))

val_evaluator = dict(ann_file=data_root + 'annotations/test.json')
test_evaluator = dict(
    ann_file=data_root + 'annotations/test.json',
    retrieval_sets=['G50', 'G100', 'GOcclusion', 'GResolution'])
