# Table 10 (GFN LUT sampling, PRW), row "P2N1": recall 96.0, AP 93.6, mAP
# 59.1, top-1 91.7, ΔmAP +1.2, Δtop-1 +3.4, GFN mAP 21.1, GFN top-1 79.5
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to up to 2 positive and 1 hard-negative LUT scenes per sampled
# person id (baseline P1N1).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(lut=dict(num_pos=2, num_neg=1)))
