# Tiny QGN + Gallery Filter Network (gfn_seqnext.md §3 on qgn_qeeps.md §1)
# for the synthetic CUHK-SYSU-layout dataset: the model of
# qgn_tiny_synthetic.py as QGNWithGFN. The GFN runs on the unguided pass of
# the shared backbone (no QSSE), so gallery scene embeddings do not depend on
# the query: the query-major test loop computes them once per image, scores
# every (query, gallery image) pair before its pair forward, and with a
# threshold skips the pair forward of the scenes below it (two-phase search).
# The scene / embedding heads are left out: deep copies of the RoI head's
# res5 ``shared_head`` and ``reid_head`` (§3.2). ``model.gfn = None`` gives
# back plain QGN.
_base_ = ['./qgn_tiny_synthetic.py']

model = dict(
    type='QGNWithGFN',
    gfn=dict(
        type='GalleryFilterNetwork',
        mode='combined',
        # 14x14 (paper: 56x56) keeps the tiny res5 scene head cheap on CPU.
        pool_size=14,
        beta=0.2,
        score_temperature=1.0,
        filter_neg=True,
        loss=dict(type='NTXentLoss', temperature=0.1),
        lut=dict(num_pos=1, num_neg=1)),
    # loss_gfn reaches the shared backbone through the unguided pass (§3.2)
    gfn_backbone_grad=True,
    # decision 3 of gfn_seqnext.md §8.1: weighting only by default; set a
    # threshold (e.g. calibrate_gfn_threshold on val) for two-phase search
    test_cfg=dict(gfn=dict(filter_thr=None)))

# The loop's gfn_thr (None: model.test_cfg.gfn.filter_thr) and the size of
# its cache of gallery scene embeddings.
test_cfg = dict(gfn_thr=None, scene_cache_size=65536)
