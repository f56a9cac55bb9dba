# Reproduces QEEPS Table 2 (qgn_qeeps.md §12.1): QEEPS "‡" (QSSE + QRPN +
# QSimNet, 900x1500) on CUHK-SYSU gallery 100: expected 88.9 mAP / 89.1
# top-1. QEEPS differs from QGN (configs/qgn/qgn_r50-c4_cuhk-sysu.py) in its
# schedule and batch: 2 epochs, x0.1 after 1, one pair per batch (§8.1), and
# pools the query at 14x14 for QRPN (D3: the 49 M parameters of QEEPS
# Table 4 point to 14x14). Same modules, same anchors (scales {2..32},
# ratios {1, 2, 3}, QEEPS §5.2).
# Departure: the stage-1 OIM here is the project's NAE4PS-style OIM (RoIAlign
# 14 + gCat), not QEEPS' OIM‡ (83.3 / 84.2), so that `load_from` matches.
_base_ = [
    '../_base_/models/qgn_r50-c4.py', '../_base_/datasets/cuhk_sysu_pairs.py',
    '../_base_/schedules/qeeps_sgd_2e.py', '../_base_/default_runtime.py'
]

model = dict(
    qrpn_head=dict(roi_layer=dict(output_size=14)),
    roi_head=dict(
        reid_head=dict(
            loss_reid=dict(num_person_ids=5532, queue_size=5000))))

train_dataloader = dict(batch_size=1)  # one query-gallery pair (QEEPS §5.2)

load_from = 'work_dirs/oim_r50-c4_cuhk-sysu/epoch_22.pth'
