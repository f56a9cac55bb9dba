# PRW in the standardized format (docs/data_format.md); prepare it with
# tools/dataset_converters/prw.py. The whole test split is the gallery.
_base_ = './cuhk_sysu.py'

dataset_type = 'PRWDataset'
data_root = 'data/PRW/'

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(
    dataset=dict(
        type=dataset_type, data_root=data_root, retrieval_sets=['test']))
test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        retrieval_sets=['test', 'same_cam', 'cross_cam', 'mini']))

val_evaluator = dict(
    ann_file=data_root + 'annotations/test.json', retrieval_sets=['test'])
test_evaluator = dict(
    ann_file=data_root + 'annotations/test.json',
    retrieval_sets=['test', 'same_cam', 'cross_cam', 'mini'])
