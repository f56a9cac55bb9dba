# Table 4 (GFN objective, PRW), row "Scene-Only": recall 96.0, AP 93.4, mAP
# 56.5, top-1 91.9, ΔmAP -0.9, Δtop-1 +2.8, GFN mAP 16.1, GFN top-1 73.3
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to the scene-only objective (``mode='image'``, Eq. 9-11; no
# person queries, so the query mode has no effect).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(mode='image'))
