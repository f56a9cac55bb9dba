# Ablation baseline † of Tables 4, 7-10 (PRW test), "Comb. Proto" /
# "CNB RCNN-SCS" / "RSC+RFC" / "512x512" / "56x56" / "2048" / "P1N1":
# recall 96.0, AP 93.4, mAP 58.8, top-1 92.3, ΔmAP +1.1, Δtop-1 +3.5,
# GFN mAP 20.4, GFN top-1 78.5 (gfn_seqnext.md §4.3, §6.5-6.9). The final
# PRW model (../seqnext-gfn_convnext-b_prw.py) with two changes: ``rrc``
# crops at 512 (RSC or RFC, mean-colour padding to the crop, min visibility
# 0.4) and Proto query embeddings (OIM LUT prototypes, decision 9). Every
# file of this folder inherits it and changes only its table row; they train
# on PRW trainval and test on PRW test (decision 27).
_base_ = ['../seqnext-gfn_convnext-b_prw.py']

train_pipeline = _base_.rrc_train_pipeline
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(gfn=dict(query_mode='proto'))
