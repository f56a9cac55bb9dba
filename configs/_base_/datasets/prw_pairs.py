# PRW query-gallery pairs for QGN / QEEPS stage 2 (qgn_qeeps.md §8.3, T4):
# every labelled train box is a query with 3 gallery frames of its identity,
# re-drawn every epoch from (seed, epoch) (add PairResampleHook to
# custom_hooks), doubled with both images flipped. Test: PRW-mini (30
# queries x the whole test gallery, §10.3; E1: the default PRW evaluation of
# the query-guided models; full PRW = 2,057 x 6,112 pairs, set
# retrieval_set='test' for a sharded run).
_base_ = './cuhk_sysu_pairs.py'

dataset_type = 'PRWDataset'
data_root = 'data/PRW/'

train_dataloader = dict(
    dataset=dict(data_root=data_root, pairs_per_query=3))

retrieval_set = 'mini'
test_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        retrieval_sets=[retrieval_set]))
test_evaluator = dict(
    ann_file=data_root + 'annotations/test.json',
    retrieval_sets=[retrieval_set])
test_cfg = dict(retrieval_set=retrieval_set)
