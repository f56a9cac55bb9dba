# Table 8 bottom (crop size, RSC+RFC, PRW), row "256x256": recall 95.3, AP
# 91.9, mAP 51.4, top-1 90.1, ΔmAP +0.1, Δtop-1 +3.3, GFN mAP 16.7, GFN top-1
# 78.0 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to ``rrc`` crops of 256 x 256
# (padding to 256 with the mean colour, min visibility 0.4).
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=256, pad_val=_base_.mean_bgr),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomFocusedCrop', crop_size=256)],
            [dict(type='RandomSafeCrop', crop_size=256, erosion_rate=0.1)],
        ],
        prob=[0.5, 0.5]),
    *_base_.rrc_train_pipeline[-3:],  # visibility >= 0.4, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
