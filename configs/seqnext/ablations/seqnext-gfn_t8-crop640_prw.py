# Table 8 bottom (crop size, RSC+RFC, PRW), row "640x640 (final choice)":
# recall 95.3, AP 92.9, mAP 59.6, top-1 92.3, ΔmAP +1.4, Δtop-1 +3.4, GFN mAP
# 21.8, GFN top-1 79.6 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to ``rrc`` crops of 640 x 640
# (padding to 640 with the mean colour, min visibility 0.4).
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=640, pad_val=_base_.mean_bgr),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomFocusedCrop', crop_size=640)],
            [dict(type='RandomSafeCrop', crop_size=640, erosion_rate=0.1)],
        ],
        prob=[0.5, 0.5]),
    *_base_.rrc_train_pipeline[-3:],  # visibility >= 0.4, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
