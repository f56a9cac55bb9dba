# Ablation of seqnext-gfn_r50-w16_tiny_synthetic.py: ``loss_gfn`` does not
# back-propagate into the shared backbone (``gfn_backbone_grad=False``), so
# the GFN cannot change the detector's features; the GFN heads and the person
# embedding path still learn. The paper trains the GFN through the backbone
# (gfn_seqnext.md §3.2); on the synthetic data, whose scenes carry no
# identity-related context, that lowers the person-search mAP (README).
_base_ = ['./seqnext-gfn_r50-w16_tiny_synthetic.py']

model = dict(gfn_backbone_grad=False)
