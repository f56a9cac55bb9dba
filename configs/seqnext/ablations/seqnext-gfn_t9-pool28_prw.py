# Table 9 top (GFN scene pool size, PRW), row "28x28": recall 95.9, AP 93.4,
# mAP 58.5, top-1 92.3, ΔmAP +0.7, Δtop-1 +3.6, GFN mAP 19.7, GFN top-1 79.2
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to the GFN scene map adaptive-max-pooled to 28 x 28 (not 56).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(pool_size=28))
