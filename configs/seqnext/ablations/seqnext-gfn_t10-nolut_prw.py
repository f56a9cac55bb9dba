# Table 10 (GFN LUT sampling, PRW), row "No LUT": recall 96.2, AP 93.7, mAP
# 57.5, top-1 90.8, ΔmAP -0.3, Δtop-1 +2.1, GFN mAP 13.3, GFN top-1 72.8
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to no scene lookup table: only batch persons and batch scenes.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(lut=None))
