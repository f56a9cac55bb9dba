# Table 8 top (augmentation, PRW), row "RSC": recall 95.9, AP 93.1, mAP 55.8,
# top-1 91.0, ΔmAP +0.7, Δtop-1 +3.7, GFN mAP 18.5, GFN top-1 77.6
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to ``rrc`` with the RFC probability 0 (the reference
# ``aug_rfc_prob=0``): always the random safe crop.
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=512, pad_val=_base_.mean_bgr),
    dict(type='RandomSafeCrop', crop_size=512, erosion_rate=0.1),
    *_base_.rrc_train_pipeline[-3:],  # visibility >= 0.4, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
