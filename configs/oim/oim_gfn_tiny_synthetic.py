# Tiny OIM + Gallery Filter Network (gfn_seqnext.md §3) on the synthetic
# CUHK-SYSU-layout dataset: the model of oim_tiny_synthetic.py wrapped as
# OIMWithGFN. The GFN's scene head and embedding head are left out, so they
# are deep copies of the RoI head's res5 ``shared_head`` and ``reid_head``
# (§3.2); combined objective, 'batch' query mode, P1N1 scene LUT, alpha = 1.
# ``model.gfn = None`` gives back plain OIM.
_base_ = ['./oim_tiny_synthetic.py']

model = dict(
    type='OIMWithGFN',
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
