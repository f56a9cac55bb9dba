# Table 9 bottom (embedding dimension, PRW), row "256": recall 95.9, AP 93.4,
# mAP 58.2, top-1 92.0, ΔmAP +1.0, Δtop-1 +4.3, GFN mAP 20.1, GFN top-1 78.3
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to 256-d person embeddings (128 per branch) and OIM tables; the
# GFN embedding head is a copy, so scenes are 256-d too.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(
    roi_head=dict(
        reid_head=dict(
            embed_dim=256, loss_reid=dict(embed_dim=256))))
