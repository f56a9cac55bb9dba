# Tiny SeqNeXt + Gallery Filter Network (gfn_seqnext.md §3) on the synthetic
# CUHK-SYSU-layout dataset: seqnext_r50-w16_tiny_synthetic.py wrapped as
# SeqNeXtWithGFN with the tiny GFN of configs/_base_/models/gfn_tiny.py and
# trained from scratch with the same schedule. ``model.gfn = None`` gives back
# plain SeqNeXt.
_base_ = [
    './seqnext_r50-w16_tiny_synthetic.py', '../_base_/models/gfn_tiny.py'
]

model = dict(type='SeqNeXtWithGFN', gfn=_base_.tiny_gfn)
