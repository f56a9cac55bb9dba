# Table 9 bottom (embedding dimension, PRW), row "1024": recall 96.2, AP 93.6,
# mAP 59.3, top-1 92.2, ΔmAP +1.1, Δtop-1 +3.5, GFN mAP 20.0, GFN top-1 78.0
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to 1024-d person embeddings (512 per branch) and OIM tables; the
# GFN embedding head is a copy, so scenes are 1024-d too.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(
    roi_head=dict(
        reid_head=dict(
            embed_dim=1024, loss_reid=dict(embed_dim=1024))))
