# Table 2, "SeqNeXt+GFN, ResNet50", PRW: mAP 51.3, top-1 90.6 (50.8 / 86.0
# without GFN weighting; +4.6 top-1 from the GFN). seqnext_r50_prw.py with
# the final GFN (§4.3 "ResNet50 final": combined objective, Batch query
# mode, scene pool 56, 2048-d, P1N1 scene LUT; the scene head is a res5
# copy).
_base_ = ['./seqnext_r50_prw.py']

model = dict(type='SeqNeXtWithGFN', gfn=_base_.gfn_cfg)
