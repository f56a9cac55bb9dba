# CUHK-SYSU for SeqNeXt (gfn_seqnext.md §4.1-4.2): the CUHK-SYSU base
# (trainval.json, WRS test pipeline, batch 1) with the final ``rrc2`` crops
# (crop 640) of seqnext_augment.py, batch 8, shuffled, no aspect-ratio
# grouping, last incomplete batch dropped (the reference RandomSampler +
# BatchSampler).
_base_ = ['./cuhk_sysu.py', './seqnext_augment.py']

train_pipeline = _base_.rrc2_train_pipeline
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    drop_last=True,
    batch_sampler=None,
    dataset=dict(pipeline=train_pipeline))
