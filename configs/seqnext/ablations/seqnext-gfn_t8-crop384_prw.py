# Table 8 bottom (crop size, RSC+RFC, PRW), row "384x384": recall 96.3, AP
# 93.6, mAP 56.7, top-1 92.0, ΔmAP +0.6, Δtop-1 +3.0, GFN mAP 19.6, GFN top-1
# 79.2 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to ``rrc`` crops of 384 x 384
# (padding to 384 with the mean colour, min visibility 0.4).
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=384, pad_val=_base_.mean_bgr),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomFocusedCrop', crop_size=384)],
            [dict(type='RandomSafeCrop', crop_size=384, erosion_rate=0.1)],
        ],
        prob=[0.5, 0.5]),
    *_base_.rrc_train_pipeline[-3:],  # visibility >= 0.4, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
