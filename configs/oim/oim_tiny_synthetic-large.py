# oim_tiny_synthetic.py on the larger scene-context synthetic set
# (configs/_base_/datasets/synthetic_large_cuhk_sysu.py: 120 training
# identities on 320 `train` scenes, 50 test queries); same model and
# optimiser, 12 epochs of 80 iterations.
_base_ = [
    './oim_tiny_synthetic.py',
    '../_base_/datasets/synthetic_large_cuhk_sysu.py'
]
model = _base_.large_model
train_dataloader = _base_.large_data.train_dataloader
val_dataloader = _base_.large_data.val_dataloader
test_dataloader = _base_.large_data.test_dataloader
val_evaluator = _base_.large_data.val_evaluator
test_evaluator = _base_.large_data.test_evaluator
train_cfg = _base_.large_schedule.train_cfg
param_scheduler = _base_.large_schedule.param_scheduler
default_hooks = dict(checkpoint=dict(interval=4))
