# OIM / NAE4PS stage-1 schedule (qgn_qeeps.md §8.2): SGD lr 0.003, momentum
# 0.9, weight decay 5e-4, linear warm-up, x0.1 at epoch 16, 22 epochs,
# gradient clipping at 10 (for the reference batch size 5; the configs that
# use another batch size say so and set auto_scale_lr).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=22, val_interval=22)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=1000),
    dict(type='MultiStepLR', begin=0, end=22, by_epoch=True,
         milestones=[16], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.003, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=5)
