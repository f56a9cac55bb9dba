# Table 2, "SeqNeXt, ResNet50", PRW: mAP 50.8, top-1 86.0 (the paper's
# number is the SeqNeXt+GFN checkpoint without GFN weighting; this config
# trains SeqNeXt alone). ResNet-50 recipe (§4.1, §4.3, decision 13): frozen
# BN, conv1 + stage 1 frozen, res5 heads, rrc2 crops at 640, batch 12,
# SGD 3e-3, 30 epochs, fp16 AMP (--cfg-options
# optim_wrapper.type=OptimWrapper runs without it).
_base_ = [
    '../_base_/models/seqnext_r50.py', '../_base_/datasets/seqnext_prw.py',
    '../_base_/schedules/seqnext_sgd_30e.py', '../_base_/default_runtime.py'
]

# OIM LUT = info.num_known_ids of the converted trainval.json, read before
# training: 483 for the standardized PRW (Table 6, decision 21; SeqNet's
# data gives 482), circular queue 500.
model = dict(
    roi_head=dict(
        reid_head=dict(
            # LUT rows from the training annotations (OIMTableSizeHook)
            loss_reid=dict(num_person_ids=None, queue_size=500))))
train_dataloader = dict(batch_size=12)
# Warm-up over W = min(1000, 5704 // 12 - 1) = 474 iterations: end = W + 1.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=475), _base_.param_scheduler[1]
]
