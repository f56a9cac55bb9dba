# Table 2, "SeqNeXt, ConvNeXt-B", PRW: mAP 57.6, top-1 89.5 (Table 3:
# same-camera 82.9 / 98.5, cross-camera 55.3 / 80.5). The paper's SeqNeXt
# numbers are the SeqNeXt+GFN checkpoint evaluated without GFN weighting
# (gfn_seqnext.md §6); this config trains SeqNeXt alone, without the GFN
# (at the ablation settings that is Table 4 "None": 58.6 / 88.7). Final
# recipe (§4.3, decision 29): ConvNeXt-B, RCNN-SCS, rrc2 crops at 640,
# batch 8, Adam 1e-4, 30 epochs, fp16 AMP (--cfg-options
# optim_wrapper.type=OptimWrapper runs without it).
_base_ = [
    '../_base_/models/seqnext_convnext-b.py',
    '../_base_/datasets/seqnext_prw.py',
    '../_base_/schedules/seqnext_adam_30e.py', '../_base_/default_runtime.py'
]

# OIM LUT = info.num_known_ids of the converted trainval.json, read before
# training: 483 for the standardized PRW (Table 6, decision 21; SeqNet/
# NAE4PS's data gives 482), circular queue 500.
model = dict(
    roi_head=dict(
        reid_head=dict(
            # LUT rows from the training annotations (OIMTableSizeHook)
            loss_reid=dict(num_person_ids=None, queue_size=500))))
# Warm-up over W = min(1000, iters_per_epoch - 1) = 5704 // 8 - 1 = 712
# iterations (5704 trainval scenes, all annotated; drop_last): end = W + 1.
param_scheduler = [
    dict(_base_.param_scheduler[0], end=713), _base_.param_scheduler[1]
]
