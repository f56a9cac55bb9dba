# Table 10 (GFN LUT sampling, PRW), row "P1N0": recall 96.1, AP 93.6, mAP
# 59.5, top-1 91.9, ΔmAP +1.3, Δtop-1 +2.4, GFN mAP 21.0, GFN top-1 78.7
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to up to 1 positive and 0 hard-negative LUT scenes per sampled
# person id (baseline P1N1).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(lut=dict(num_pos=1, num_neg=0)))
