# A larger scene-context synthetic CUHK-SYSU set for comparing the tiny models
# with less noise: 150 training identities on 400 scenes (the default set has
# 30 on 100) and 50 test queries on 150 test scenes (30 on 100), one place per
# identity group. Make it with
#   python tools/misc/make_synthetic_dataset.py --out-dir data/synthetic_large \
#       --datasets CUHK-SYSU --group-places 1 --cuhk-train-ids 150 \
#       --cuhk-train-scenes 400 --cuhk-test-ids 50 --cuhk-test-scenes 150
#   python tools/dataset_converters/cuhk_sysu.py data/synthetic_large/CUHK-SYSU
# Models train on the `train` partition so that `val` (disjoint identities and
# places) is free for calibrating the GFN threshold. A config that inherits
# this file next to a tiny synthetic config takes the overrides below, e.g.
# `train_dataloader = _base_.large_data.train_dataloader`.
large_root = 'data/synthetic_large/CUHK-SYSU/'
large_data = dict(
    train_dataloader=dict(
        dataset=dict(data_root=large_root,
                     ann_file='annotations/train.json')),
    val_dataloader=dict(dataset=dict(data_root=large_root)),
    test_dataloader=dict(dataset=dict(data_root=large_root)),
    val_evaluator=dict(ann_file=large_root + 'annotations/test.json'),
    test_evaluator=dict(ann_file=large_root + 'annotations/test.json'))
# 120 known identities in train.json (the OIM lookup table's size), and a
# schedule of about the default set's iterations for the from-scratch tiny
# models: 12 epochs of 80 iterations (960), x0.1 after 10.
large_model = dict(
    roi_head=dict(reid_head=dict(loss_reid=dict(num_person_ids=120))))
large_epochs = 12
large_schedule = dict(
    # tested with tools/test.py after training
    train_cfg=dict(max_epochs=large_epochs, val_interval=100),
    param_scheduler=[
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
             end=50),
        dict(type='MultiStepLR', begin=0, end=large_epochs, by_epoch=True,
             milestones=[10], gamma=0.1)
    ])
