# Table 10 (GFN LUT sampling, PRW), row "P2N0": recall 96.2, AP 93.7, mAP
# 59.1, top-1 91.9, ΔmAP +1.2, Δtop-1 +3.6, GFN mAP 20.9, GFN top-1 79.5
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to up to 2 positive and 0 hard-negative LUT scenes per sampled
# person id (baseline P1N1).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(lut=dict(num_pos=2, num_neg=0)))
