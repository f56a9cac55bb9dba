# SeqNeXt schedule for ResNet-50 (gfn_seqnext.md §4.1, decision 18): the
# ConvNeXt schedule of seqnext_adam_30e.py (30 epochs, x0.1 after 15 and 25,
# warm-up, fp16 AMP, clipping at 10, seed 0) with SGD lr 3e-3, momentum 0.9,
# weight decay 5e-4 at batch 12.
_base_ = './seqnext_adam_30e.py'

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='SGD',
        lr=3e-3,
        momentum=0.9,
        weight_decay=5e-4))
auto_scale_lr = dict(enable=False, base_batch_size=12)
