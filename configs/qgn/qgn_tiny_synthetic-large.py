# qgn_tiny_synthetic.py on the larger scene-context synthetic set
# (configs/_base_/datasets/synthetic_large_cuhk_sysu.py), fine-tuned from
# oim_tiny_synthetic-large.py: one gallery per query box and epoch (660
# pairs, 330 iterations), 3 epochs, x0.1 after 2.
_base_ = [
    './qgn_tiny_synthetic.py',
    '../_base_/datasets/synthetic_large_cuhk_sysu.py'
]
model = _base_.large_model
train_dataloader = dict(
    dataset=dict(
        _base_.large_data.train_dataloader.dataset, pairs_per_query=1))
test_dataloader = _base_.large_data.test_dataloader
test_evaluator = _base_.large_data.test_evaluator

max_epochs = 3
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[2], gamma=0.1)
]
load_from = ('work_dirs/oim_tiny_synthetic-large/'
             f'epoch_{_base_.large_epochs}.pth')
