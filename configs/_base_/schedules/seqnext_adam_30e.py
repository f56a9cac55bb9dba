# SeqNeXt schedule for ConvNeXt backbones (gfn_seqnext.md §4.1, decision 18):
# Adam lr 1e-4 (betas 0.9/0.999, eps 1e-8, weight decay 0), batch 8,
# 30 epochs, x0.1 after epochs 15 and 25, linear warm-up from 1e-3 x lr
# over the first W = min(1000, iters_per_epoch - 1) iterations, fp16 AMP
# with dynamic loss scaling, gradient clipping at a global L2 norm of 10
# (after unscaling), validation after the last epoch, seed 0.
# Warm-up: the reference factor is 1e-3 + 0.999 * it / W, reaching 1 at
# iteration W; mmengine's LinearLR reaches 1 at iteration end - 1, so
# end = W + 1 (1001 here; configs with fewer than 1001 iterations per epoch
# set their own).
# AMP needs a GPU: mmengine 0.10.7's AmpOptimWrapper asserts CUDA (or NPU /
# MLU / MUSA) when it is built, so on a CPU it fails (it has no CPU bf16
# path, although mmengine.runner.amp.autocast alone would use CPU bf16).
# To train without AMP (CPU, or fp32 on a GPU) add
#   --cfg-options optim_wrapper.type=OptimWrapper
# (loss_scale is left at the wrapper's default 'dynamic', so no key of the
# AMP wrapper remains that OptimWrapper would reject).
# The batch sizes are for one GPU as in the paper (decision 19); under DDP
# they are per GPU, and the OIM and GFN lookup tables stay per process.
max_epochs = 30
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=30)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=False,
        begin=0,
        end=1001),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[15, 25],
        gamma=0.1)
]
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)
randomness = dict(seed=0)
