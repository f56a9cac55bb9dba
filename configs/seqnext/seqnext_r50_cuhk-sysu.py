# Table 2, "SeqNeXt, ResNet50", CUHK-SYSU G100: mAP 94.1, top-1 94.7 (the
# paper's number is the SeqNeXt+GFN checkpoint without GFN weighting; this
# config trains SeqNeXt alone). ResNet-50 recipe (§4.1, §4.3, decision 13):
# frozen BN, conv1 + stage 1 frozen, res5 heads, rrc2 crops at 640,
# batch 12, SGD 3e-3, 30 epochs, fp16 AMP (--cfg-options
# optim_wrapper.type=OptimWrapper runs without it).
_base_ = [
    '../_base_/models/seqnext_r50.py',
    '../_base_/datasets/seqnext_cuhk_sysu.py',
    '../_base_/schedules/seqnext_sgd_30e.py', '../_base_/default_runtime.py'
]

# OIM LUT = info.num_known_ids of the converted trainval.json (Table 6:
# 5532, decision 21), circular queue 5000.
model = dict(
    roi_head=dict(
        reid_head=dict(
            loss_reid=dict(num_person_ids=5532, queue_size=5000))))
train_dataloader = dict(batch_size=12)
# Warm-up over W = min(1000, 11206 // 12 - 1) = 932 iterations: end = W + 1.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=933), _base_.param_scheduler[1]
]
