# Tiny SeqNeXt + Gallery Filter Network (gfn_seqnext.md §3) on the synthetic
# CUHK-SYSU-layout dataset: seqnext_r50-w16_tiny_synthetic.py wrapped as
# SeqNeXtWithGFN and trained from scratch with the same schedule. The GFN's
# scene head and embedding head are deep copies of the RoI head's conv5
# ``shared_head`` and ``reid_head`` (§3.2); combined objective, 'batch' query
# mode (the final model, decision 9), P1N1 scene LUT, alpha = 1.
# ``model.gfn = None`` gives back plain SeqNeXt.
_base_ = ['./seqnext_r50-w16_tiny_synthetic.py']

model = dict(
    type='SeqNeXtWithGFN',
    gfn=dict(
        type='GalleryFilterNetwork',
        mode='combined',
        # 14x14 (paper: 56x56) keeps the tiny res5 scene head cheap on CPU.
        pool_size=14,
        beta=0.2,
        score_temperature=1.0,
        filter_neg=True,
        loss=dict(type='NTXentLoss', temperature=0.1),
        lut=dict(num_pos=1, num_neg=1)))
