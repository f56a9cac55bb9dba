# QEEPS stage 2 (qgn_qeeps.md §8.1, T1): SGD lr 1e-3, 2 epochs, x0.1 after
# epoch 1 (momentum, weight decay and clipping not stated: as QGN's).
_base_ = './qgn_sgd_4e.py'

max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[1], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=1)
