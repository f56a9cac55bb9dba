# Tiny QGN + Gallery Filter Network (gfn_seqnext.md §3 on qgn_qeeps.md §1)
# for the synthetic CUHK-SYSU-layout dataset: the model of
# qgn_tiny_synthetic.py as QGNWithGFN. The GFN runs on the unguided pass of
# the shared backbone (no QSSE), so gallery scene embeddings do not depend on
# the query: the query-major test loop computes them once per image, scores
# every (query, gallery image) pair before its pair forward, and with a
# threshold skips the pair forward of the scenes below it (two-phase search).
# The GFN is the tiny one of configs/_base_/models/gfn_tiny.py.
# ``model.gfn = None`` gives back plain QGN.
_base_ = ['./qgn_tiny_synthetic.py', '../_base_/models/gfn_tiny.py']

model = dict(
    type='QGNWithGFN',
    gfn=_base_.tiny_gfn,
    # loss_gfn reaches the shared backbone through the unguided pass (§3.2)
    gfn_backbone_grad=True,
    # decision 3 of gfn_seqnext.md §8.1: weighting only by default; set a
    # threshold (e.g. calibrate_gfn_threshold on val) for two-phase search
    test_cfg=dict(gfn=dict(filter_thr=None)))

# The loop's gfn_thr (None: model.test_cfg.gfn.filter_thr) and the size of
# its cache of gallery scene embeddings.
test_cfg = dict(gfn_thr=None, scene_cache_size=65536)

# Stage 2 loads the OIM checkpoint, which has no GFN: start the GFN's conv5
# and embedding heads from the loaded RoI heads (as SeqNeXt copies them).
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='PairResampleHook'),
    dict(type='GFNHeadsFromDetectorHook')
]
