# OIM (NAE4PS-style improved baseline) on PRW: ResNet-50 C4, 900x1500 input,
# batch 2, NAE4PS stage-1 schedule (qgn_qeeps.md §8.2, decision T3).
# num_person_ids must equal info.num_known_ids of the converted PRW
# trainval.json (482 in NAE4PS/SeqNet; gfn_seqnext.md §8.2 item 21).
_base_ = [
    '../_base_/models/oim_r50-c4.py', '../_base_/datasets/prw.py',
    '../_base_/schedules/sgd_22e.py', '../_base_/default_runtime.py'
]

model = dict(
    roi_head=dict(
        reid_head=dict(
            loss_reid=dict(num_person_ids=482, queue_size=500))))

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(optimizer=dict(lr=0.0012))
auto_scale_lr = dict(enable=False, base_batch_size=2)
