# SeqNeXt training augmentation (gfn_seqnext.md §4.2, decision 17): named
# train pipelines, no dataset. configs/_base_/datasets/seqnext_{prw,
# cuhk_sysu}.py put ``rrc2_train_pipeline`` into their train loader; the
# ablation configs pick another one or write their own.
#   wrs  - Window Resize only: fit (1500, 900) keeping the aspect ratio
#          (short side 900 unless the long side would exceed 1500), h-flip.
#   rrc  - baseline / ablations (crop 512): WRS, pad to >= crop x crop with
#          the mean colour (0 after normalisation), then RSC or RFC with
#          equal probability, drop boxes < 40% visible, h-flip.
#   rrc2 - final models (crop 640): WRS, pad to >= 3 crop x 3 crop with
#          black (0 in 0-255, -mean/std after normalisation), then RSC
#          (erosion 0.1) or RFC2 with equal probability, drop boxes < 60%
#          visible, h-flip.
# Pixels stay BGR 0-255 here; DetDataPreprocessor (model base) converts to
# RGB and normalises with the ImageNet mean/std. Test time: WRS only,
# batch 1 (the test_pipeline of the dataset bases).
wrs_scale = (1500, 900)
# ImageNet mean in the BGR order of the loaded image, rounded to uint8.
mean_bgr = (104, 116, 124)

wrs_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=wrs_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
rrc_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=wrs_scale, keep_ratio=True),
    dict(type='PadToMinSize', min_size=512, pad_val=mean_bgr),
    dict(
        type='RandomChoice',
        transforms=[[dict(type='RandomFocusedCrop', crop_size=512)],
                    [
                        dict(
                            type='RandomSafeCrop',
                            crop_size=512,
                            erosion_rate=0.1)
                    ]],
        prob=[0.5, 0.5]),
    dict(type='FilterByVisibility', min_visibility=0.4),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
rrc2_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=wrs_scale, keep_ratio=True),
    dict(type='PadToMinSize', min_size=3 * 640, pad_val=0),
    dict(
        type='RandomChoice',
        transforms=[[dict(type='RandomFocusedCrop2', crop_size=640)],
                    [
                        dict(
                            type='RandomSafeCrop',
                            crop_size=640,
                            erosion_rate=0.1)
                    ]],
        prob=[0.5, 0.5]),
    dict(type='FilterByVisibility', min_visibility=0.6),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
