# CUHK-SYSU query-gallery pairs for QGN / QEEPS stage 2 (qgn_qeeps.md §8.3,
# T4): all ordered same-person pairs of trainval, doubled with both images
# flipped; test: the query-major loop over CUHK-SYSU G100 (E1: the main
# benchmark, 2,900 x 100 pair forwards). No validation during training.
_base_ = './cuhk_sysu.py'

pair_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
    # flip_doubling forces this flip off / on per item (both images)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
train_dataloader = dict(
    batch_size=2,  # pairs
    batch_sampler=None,  # aspect-ratio grouping needs per-image infos
    dataset=dict(
        type='PersonSearchPairDataset',
        filter_cfg=None,
        pairs_per_query=None,  # all ordered pairs (T4)
        flip_doubling=True,
        seed=0,
        pipeline=pair_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None

retrieval_set = 'G100'
test_dataloader = dict(dataset=dict(retrieval_sets=[retrieval_set]))
test_evaluator = dict(retrieval_sets=[retrieval_set])
# Each query's gallery in pair batches (the query replicated, §9.3).
test_cfg = dict(
    type='QueryMajorTestLoop',
    retrieval_set=retrieval_set,
    gallery_batch_size=4,
    cache_size=128)
