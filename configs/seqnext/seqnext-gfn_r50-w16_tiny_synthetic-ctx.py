# seqnext-gfn_r50-w16_tiny_synthetic.py on the scene-context synthetic data:
# seqnext_r50-w16_tiny_synthetic-ctx.py with the tiny GFN.
_base_ = [
    './seqnext_r50-w16_tiny_synthetic-ctx.py', '../_base_/models/gfn_tiny.py'
]

model = dict(type='SeqNeXtWithGFN', gfn=_base_.tiny_gfn)
