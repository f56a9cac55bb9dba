# Table 8 top (augmentation, PRW), row "WRS (900x1500 only)": recall 89.3, AP
# 87.7, mAP 57.3, top-1 91.1, ΔmAP +0.9, Δtop-1 +4.7, GFN mAP 19.6, GFN top-1
# 78.3 (gfn_seqnext.md §6). The ablation baseline
# (seqnext-gfn_baseline_prw.py, row †) changed to no crop: window resize and
# flip only (``wrs``), batch 8 of full scenes.
_base_ = ['./seqnext-gfn_baseline_prw.py']

train_pipeline = _base_.wrs_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
