# Table 9 bottom (embedding dimension, PRW), row "128": recall 96.1, AP 93.6,
# mAP 58.0, top-1 91.6, ΔmAP +0.7, Δtop-1 +3.8, GFN mAP 19.6, GFN top-1 77.9
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to 128-d person embeddings (64 per branch) and OIM tables; the
# GFN embedding head is a copy, so scenes are 128-d too.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(
    roi_head=dict(
        reid_head=dict(
            embed_dim=128, loss_reid=dict(embed_dim=128))))
