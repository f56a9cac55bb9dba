# The scene-context variant of the synthetic CUHK-SYSU data: every identity
# group is seen at one fixed place (tools/misc/make_synthetic_dataset.py
# --group-places 1 --out-dir data/synthetic_ctx, then
# tools/dataset_converters/cuhk_sysu.py data/synthetic_ctx/CUHK-SYSU).
# Models train on the `train` partition so that `val` (disjoint identities and
# places) is free for calibrating the GFN threshold. A config that inherits
# this file next to a tiny synthetic config takes the overrides below, e.g.
# `train_dataloader = _base_.ctx_data.train_dataloader`.
ctx_root = 'data/synthetic_ctx/CUHK-SYSU/'
ctx_data = dict(
    train_dataloader=dict(
        dataset=dict(data_root=ctx_root, ann_file='annotations/train.json')),
    val_dataloader=dict(dataset=dict(data_root=ctx_root)),
    test_dataloader=dict(dataset=dict(data_root=ctx_root)),
    val_evaluator=dict(ann_file=ctx_root + 'annotations/test.json'),
    test_evaluator=dict(ann_file=ctx_root + 'annotations/test.json'))
