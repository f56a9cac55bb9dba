# Table 4 (GFN objective, PRW), row "Base Proto": recall 96.0, AP 93.6, mAP
# 55.0, top-1 86.2, ΔmAP -3.0, Δtop-1 -2.7, GFN mAP 22.9, GFN top-1 57.8
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to the baseline query-scene objective (``mode='base'``, code
# form, decision 4), Proto queries.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(mode='base'))
