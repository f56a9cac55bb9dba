# Tiny OIM + Gallery Filter Network (gfn_seqnext.md §3) on the synthetic
# CUHK-SYSU-layout dataset: the model of oim_tiny_synthetic.py wrapped as
# OIMWithGFN with the tiny GFN of configs/_base_/models/gfn_tiny.py.
# ``model.gfn = None`` gives back plain OIM.
_base_ = ['./oim_tiny_synthetic.py', '../_base_/models/gfn_tiny.py']

model = dict(type='OIMWithGFN', gfn=_base_.tiny_gfn)
