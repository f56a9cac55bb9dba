# Reproduces QGN Table 6 / Table 9 last row (qgn_qeeps.md §12.2): QGN
# (QSSE + QRPN + QSimNet) on ResNet-50 C4, 900x1500, RoIAlign 14, gCat,
# batch 2 pairs, CUHK-SYSU gallery 100: expected 91.5 mAP / 92.1 top-1.
# Stage 2 of §8.2: fine-tuned for 4 epochs from the stage-1 OIM of
# configs/oim/oim_r50-c4_cuhk-sysu.py (Table 9: 88.6 / 88.8).
_base_ = [
    '../_base_/models/qgn_r50-c4.py', '../_base_/datasets/cuhk_sysu_pairs.py',
    '../_base_/schedules/qgn_sgd_4e.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        reid_head=dict(
            loss_reid=dict(num_person_ids=5532, queue_size=5000))))

train_dataloader = dict(batch_size=2)  # pairs (T2)

load_from = 'work_dirs/oim_r50-c4_cuhk-sysu/epoch_22.pth'
