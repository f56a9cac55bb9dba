# Ablation of seqnext-gfn_r50-w16_tiny_synthetic-ctx.py: the GFN loss reaches
# neither the shared backbone (``gfn_backbone_grad=False``) nor the person
# embeddings (``query_mode='proto'``: OIM prototypes as GFN queries, the
# paper's baseline source, gfn_seqnext.md §3.6), so the detector trains as
# plain SeqNeXt and the GFN only adds its scene filter. The README compares it
# with the paper's setting (Batch queries, GFN loss through the backbone).
_base_ = ['./seqnext-gfn_r50-w16_tiny_synthetic-ctx.py']

model = dict(gfn_backbone_grad=False, gfn=dict(query_mode='proto'))
