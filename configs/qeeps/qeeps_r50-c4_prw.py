# Reproduces QEEPS Table 3 (qgn_qeeps.md §12.1): QEEPS "‡" on PRW-mini (the
# default test set here): expected 39.1 mAP / 80.0 top-1; on full PRW
# (test_cfg.retrieval_set='test'): 37.1 / 76.7. QEEPS schedule: 2 epochs,
# x0.1 after 1, one pair per batch, 3 galleries per query box re-drawn every
# epoch, QRPN query pool 14x14 (see qeeps_r50-c4_cuhk-sysu.py).
_base_ = [
    '../_base_/models/qgn_r50-c4.py', '../_base_/datasets/prw_pairs.py',
    '../_base_/schedules/qeeps_sgd_2e.py', '../_base_/default_runtime.py'
]

model = dict(
    qrpn_head=dict(roi_layer=dict(output_size=14)),
    roi_head=dict(
        reid_head=dict(
            # LUT rows from the training annotations (OIMTableSizeHook)
            loss_reid=dict(num_person_ids=None, queue_size=500))))

train_dataloader = dict(batch_size=1)
custom_hooks = [dict(type='RNGStateHook'), dict(type='PairResampleHook')]

load_from = 'work_dirs/oim_r50-c4_prw/epoch_22.pth'
