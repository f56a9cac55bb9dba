# Table 2, "SeqNeXt+GFN, ConvNeXt-B", PRW: mAP 58.3, top-1 92.4 (57.6 / 89.5
# without GFN weighting; Table 3: same-camera 85.1 / 98.6, cross-camera
# 56.4 / 82.1; GFN top-1 78.4, 11.5% of negative scenes removed at 99%
# positive recall, §3.7). The final model (§4.3, decision 29):
# seqnext_convnext-b_prw.py with the final GFN (``gfn_cfg`` of the model
# base: combined objective, Batch query mode, scene pool 56, 2048-d, P1N1
# scene LUT).
_base_ = ['./seqnext_convnext-b_prw.py']

model = dict(type='SeqNeXtWithGFN', gfn=_base_.gfn_cfg)
