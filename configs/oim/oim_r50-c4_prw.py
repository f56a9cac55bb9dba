# OIM (NAE4PS-style improved baseline) on PRW: ResNet-50 C4, 900x1500 input,
# batch 2, NAE4PS stage-1 schedule (qgn_qeeps.md §8.2, decision T3).
# OIM LUT = info.num_known_ids of the converted trainval.json, read before
# training (483 for the standardized PRW; 482 in NAE4PS/SeqNet's data;
# gfn_seqnext.md §8.2 item 21), circular queue 500.
_base_ = [
    '../_base_/models/oim_r50-c4.py', '../_base_/datasets/prw.py',
    '../_base_/schedules/sgd_22e.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        reid_head=dict(
            # LUT rows from the training annotations (OIMTableSizeHook)
            loss_reid=dict(num_person_ids=None, queue_size=500))))

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(optimizer=dict(lr=0.0012))
auto_scale_lr = dict(enable=False, base_batch_size=2)
