# QGN stage 2 (qgn_qeeps.md §8.1-§8.2, T1): SGD lr 1e-3 (momentum 0.9,
# weight decay 5e-4, gradient clip 10 [EXT]), 4 epochs, x0.1 after epoch 2,
# no warm-up; the LR is not rescaled with the batch size (T2).
max_epochs = 4
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs,
    val_interval=max_epochs + 1)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[2], gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=2)
