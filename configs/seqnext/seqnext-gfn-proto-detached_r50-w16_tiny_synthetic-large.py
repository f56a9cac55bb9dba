# seqnext_r50-w16_tiny_synthetic-large.py with the GFN kept off the detector
# (Proto queries, backbone detached), as
# seqnext-gfn-proto-detached_r50-w16_tiny_synthetic-ctx.py.
_base_ = [
    './seqnext_r50-w16_tiny_synthetic-large.py',
    '../_base_/models/gfn_tiny.py'
]
model = dict(
    type='SeqNeXtWithGFN',
    gfn=dict(_base_.tiny_gfn, query_mode='proto'),
    gfn_backbone_grad=False)
