# Tiny PGS (PGA + AMU, pgs_igpn.md §1) for the synthetic CUHK-SYSU-layout
# dataset on CPU: the tiny OIM model (ResNet-50 C4 at base width 16, 7x7
# RoIs, so the conv5 map is 4x4) with the PGS identity branch. The conv5
# head keeps its map (pool=None) for the saliency; the box head averages
# it (P3, with_avg_pool). Not a paper row: a smoke-test model.
_base_ = ['../oim/oim_tiny_synthetic.py']

base_channels = 16
c4, c5 = base_channels * 16, base_channels * 32

model = dict(
    roi_head=dict(
        shared_head=dict(pool=None),
        bbox_head=dict(with_avg_pool=True, roi_feat_size=4),
        reid_head=dict(
            _delete_=True,
            type='PGAEmbeddingHead',
            in_channels=(c4, c5),
            embed_dim=256,
            feat_size=4,  # 7x7 RoIs through conv5 at stride 2
            channel_ratio=8,
            spatial_ratio=7,
            guidance_weight=0.1,
            loss_reid=dict(
                type='OIMLoss',
                num_person_ids=30,  # info.num_known_ids of trainval.json
                queue_size=64,
                embed_dim=256,
                scalar=30.0,
                momentum=0.5,
                normalize='all',
                update_rule='amu',
                amu_temperature=0.05))))
