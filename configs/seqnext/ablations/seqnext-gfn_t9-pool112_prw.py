# Table 9 top (GFN scene pool size, PRW), row "112x112": recall 96.1, AP 93.6,
# mAP 58.8, top-1 92.4, ΔmAP +1.2, Δtop-1 +3.6, GFN mAP 22.1, GFN top-1 79.8
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to the GFN scene map adaptive-max-pooled to 112 x 112 (not 56).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(pool_size=112))
