# OIM (NAE4PS-style improved baseline, QGN Table 9 "900, Align(14), bSize 2,
# gCat") on CUHK-SYSU: ResNet-50 C4, 900x1500 input, batch 2, SGD with the
# NAE4PS stage-1 schedule (qgn_qeeps.md §8.2, decision T3): 22 epochs, x0.1
# at 16, warm-up, clip 10; lr 0.003 at batch 5 -> 0.0012 at batch 2.
_base_ = [
    '../_base_/models/oim_r50-c4.py', '../_base_/datasets/cuhk_sysu.py',
    '../_base_/schedules/sgd_22e.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        reid_head=dict(
            loss_reid=dict(num_person_ids=5532, queue_size=5000))))

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(optimizer=dict(lr=0.0012))
auto_scale_lr = dict(enable=False, base_batch_size=2)
