# Table 8 top (augmentation, PRW), row "RFC": recall 95.0, AP 92.7, mAP 58.4,
# top-1 91.2, ΔmAP +1.4, Δtop-1 +3.4, GFN mAP 20.8, GFN top-1 77.8
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to ``rrc`` with the RSC probability 0 (the reference
# ``aug_rsc_prob=0``): always the random focused crop.
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=512, pad_val=_base_.mean_bgr),
    dict(type='RandomFocusedCrop', crop_size=512),
    *_base_.rrc_train_pipeline[-3:],  # visibility >= 0.4, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
