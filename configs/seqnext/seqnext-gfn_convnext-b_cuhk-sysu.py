# Table 2, "SeqNeXt+GFN, ConvNeXt-B", CUHK-SYSU G100: mAP 96.4, top-1 97.0
# (96.1 / 96.5 without GFN weighting; Table 1: GOcclusion 92.0 / 90.9,
# GResolution 92.0 / 93.1; GFN filtering: 91.4% of negative scenes removed
# at 99% positive recall on gallery 4000, §3.7). The final model (§4.3,
# decision 29): seqnext_convnext-b_cuhk-sysu.py with the final GFN
# (``gfn_cfg`` of the model base: combined objective, Batch query mode,
# scene pool 56, 2048-d, P1N1 scene LUT).
_base_ = ['./seqnext_convnext-b_cuhk-sysu.py']

model = dict(type='SeqNeXtWithGFN', gfn=_base_.gfn_cfg)
