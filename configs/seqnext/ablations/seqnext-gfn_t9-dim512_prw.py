# Table 9 bottom (embedding dimension, PRW), row "512": recall 96.1, AP 93.5,
# mAP 58.7, top-1 91.8, ΔmAP +1.0, Δtop-1 +4.0, GFN mAP 20.0, GFN top-1 77.6
# (gfn_seqnext.md §6). The ablation baseline (seqnext-gfn_baseline_prw.py, row
# †) changed to 512-d person embeddings (256 per branch) and OIM tables; the
# GFN embedding head is a copy, so scenes are 512-d too.
_base_ = ['./seqnext-gfn_baseline_prw.py']

model = dict(
    roi_head=dict(
        reid_head=dict(
            embed_dim=512, loss_reid=dict(embed_dim=512))))
