# Table 9 top (GFN scene pool size, PRW), row "14x14": recall 96.1, AP 93.5,
# mAP 58.1, top-1 91.6, ΔmAP +0.1, Δtop-1 +3.3, GFN mAP 18.2, GFN top-1 77.9
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to the GFN scene map adaptive-max-pooled to 14 x 14 (not 56).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(pool_size=14))
