# Table 8 top (augmentation, PRW), row "RFC2": recall 95.4, AP 93.1, mAP 58.2,
# top-1 91.1, ΔmAP +1.4, Δtop-1 +3.8, GFN mAP 21.1, GFN top-1 78.4
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to ``rrc2`` at 512 with the RSC probability 0: black padding to 3
# x 512, always RFC2, min visibility 0.6.
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=1536, pad_val=0),
    dict(type='RandomFocusedCrop2', crop_size=512),
    *_base_.rrc2_train_pipeline[-3:],  # visibility >= 0.6, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
