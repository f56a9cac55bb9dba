# Table 4 (GFN objective, PRW), row "Comb. Batch (final choice)": recall 96.2,
# AP 93.6, mAP 59.5, top-1 92.2, ΔmAP +1.1, Δtop-1 +2.9, GFN mAP 20.5, GFN
# top-1 78.8 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to Batch query embeddings
# (GT-box person embeddings of the batch with gradient, plus LUT persons).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=dict(query_mode='batch'))
