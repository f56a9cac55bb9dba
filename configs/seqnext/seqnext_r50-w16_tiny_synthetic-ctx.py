# seqnext_r50-w16_tiny_synthetic.py on the scene-context synthetic data
# (configs/_base_/datasets/synthetic_ctx_cuhk_sysu.py: one place per identity
# group; trained on `train`, `val` left for the GFN threshold).
_base_ = [
    './seqnext_r50-w16_tiny_synthetic.py',
    '../_base_/datasets/synthetic_ctx_cuhk_sysu.py'
]
train_dataloader = _base_.ctx_data.train_dataloader
val_dataloader = _base_.ctx_data.val_dataloader
test_dataloader = _base_.ctx_data.test_dataloader
val_evaluator = _base_.ctx_data.val_evaluator
test_evaluator = _base_.ctx_data.test_evaluator
