# Table 4 (GFN objective, PRW), row "Base Batch": recall 95.7, AP 93.1, mAP
# 53.9, top-1 86.6, ΔmAP -2.6, Δtop-1 -2.0, GFN mAP 23.8, GFN top-1 58.4
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to the baseline query-scene objective (``mode='base'``, code
# form, decision 4) with Batch query embeddings.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(mode='base', query_mode='batch'))
