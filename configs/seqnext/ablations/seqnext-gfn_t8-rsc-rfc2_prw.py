# Table 8 top (augmentation, PRW), row "RSC+RFC2 (final choice)": recall 96.1,
# AP 93.8, mAP 58.7, top-1 92.3, ΔmAP +1.3, Δtop-1 +3.3, GFN mAP 20.8, GFN
# top-1 78.9 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to ``rrc2`` at 512: black
# padding to 3 x 512, RSC or RFC2 with equal probability, min visibility 0.6.
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = [
    *_base_.rrc_train_pipeline[:3],  # load, annotations, WRS
    dict(type='PadToMinSize', min_size=1536, pad_val=0),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomFocusedCrop2', crop_size=512)],
            [dict(type='RandomSafeCrop', crop_size=512, erosion_rate=0.1)],
        ],
        prob=[0.5, 0.5]),
    *_base_.rrc2_train_pipeline[-3:],  # visibility >= 0.6, flip, pack
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
