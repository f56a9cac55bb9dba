# Table 4 (GFN objective, PRW), row "None (no GFN trained)": recall 96.0, AP
# 93.6, mAP 58.6, top-1 88.7 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to no GFN (``gfn=None``: plain
# SeqNeXt, no scene branch and no GFN loss).
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(gfn=None)
