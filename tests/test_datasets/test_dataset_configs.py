"""The dataset base configs build working loaders on converted data."""
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmqgn.utils import register_all_modules

register_all_modules()


def _loader(cfg_file, root, which, **overrides):
    cfg = Config.fromfile(cfg_file)
    loader = cfg[f'{which}_dataloader']
    loader.dataset.data_root = str(root) + '/'
    loader.dataset.update(overrides)
    loader.update(num_workers=0, persistent_workers=False)
    return Runner.build_dataloader(loader)


@pytest.mark.parametrize('cfg_file,folder,sets', [
    ('configs/_base_/datasets/cuhk_sysu.py', 'CUHK-SYSU',
     ['G50', 'G100', 'GOcclusion', 'GResolution']),
    ('configs/_base_/datasets/prw.py', 'PRW',
     ['test', 'same_cam', 'cross_cam', 'mini']),
])
def test_test_loader_yields_gallery_then_queries(synthetic_root, cfg_file,
                                                 folder, sets):
    loader = _loader(cfg_file, synthetic_root / folder, 'test',
                     retrieval_sets=sets, pipeline=[
                         dict(type='LoadImageFromFile'),
                         dict(type='LoadPersonSearchAnnotations'),
                         dict(type='Resize', scale=(320, 240),
                              keep_ratio=True),
                         dict(type='PackPersonSearchInputs')])
    ds = loader.dataset
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    queries = [i for i in infos if i['is_query']]
    n_gallery = len(infos) - len(queries)
    assert all(not i['is_query'] for i in infos[:n_gallery])
    assert len({q['query_ann_id'] for q in queries}) == len(queries) > 0
    batch = next(iter(loader))
    sample = batch['data_samples'][0]
    assert batch['inputs'][0].shape[0] == 3
    assert max(batch['inputs'][0].shape[1:]) <= 320
    assert len(sample.gt_instances.person_ids) == len(
        sample.gt_instances.bboxes)


def test_train_loader_batches_identities(synthetic_root):
    loader = _loader('configs/_base_/datasets/synthetic_cuhk_sysu.py',
                     synthetic_root / 'CUHK-SYSU', 'train')
    batch = next(iter(loader))
    assert len(batch['data_samples']) == 4
    num_ids = loader.dataset.metainfo['num_person_ids']
    for sample in batch['data_samples']:
        labels = sample.gt_instances.person_labels
        assert ((labels >= -1) & (labels < num_ids)).all()
        assert (labels >= 0).any()
