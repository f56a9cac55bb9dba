# Reproduces QGN Table 6 (qgn_qeeps.md §12.2, E2): QGN on ResNet-50 C4,
# 900x1500, RoIAlign 14, gCat, batch 2 pairs, full PRW: expected 42.9 mAP /
# 81.9 top-1 (the paper gives no PRW-mini figure for QGN; PRW-mini, the
# default test set here, gave OIM 38.3 / 70.0 and QEEPS 39.1 / 80.0).
# Pairs: 3 galleries per query box, re-drawn every epoch (PairResampleHook).
# Stage 2 from the stage-1 OIM of configs/oim/oim_r50-c4_prw.py (Table 9:
# 40.4 / 79.2).
_base_ = [
    '../_base_/models/qgn_r50-c4.py', '../_base_/datasets/prw_pairs.py',
    '../_base_/schedules/qgn_sgd_4e.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        reid_head=dict(
            # LUT rows from the training annotations (OIMTableSizeHook)
            loss_reid=dict(num_person_ids=None, queue_size=500))))

train_dataloader = dict(batch_size=2)  # pairs (T2)
custom_hooks = [dict(type='RNGStateHook'), dict(type='PairResampleHook')]

load_from = 'work_dirs/oim_r50-c4_prw/epoch_22.pth'
