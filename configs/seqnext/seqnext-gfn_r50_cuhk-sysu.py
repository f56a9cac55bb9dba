# Table 2, "SeqNeXt+GFN, ResNet50", CUHK-SYSU G100: mAP 94.7, top-1 95.3
# (94.1 / 94.7 without GFN weighting). seqnext_r50_cuhk-sysu.py with the
# final GFN (§4.3 "ResNet50 final": combined objective, Batch query mode,
# scene pool 56, 2048-d, P1N1 scene LUT; the scene head is a res5 copy).
_base_ = ['./seqnext_r50_cuhk-sysu.py']

model = dict(type='SeqNeXtWithGFN', gfn=_base_.gfn_cfg)
