# The Gallery Filter Network of the tiny CPU configs (gfn_seqnext.md §3): the
# final settings (combined objective, 'batch' query mode, P1N1 scene LUT,
# alpha = 1) except a 14x14 scene pool (paper: 56x56), which keeps the tiny
# conv5 scene head cheap on CPU. The scene head and embedding head are left
# out, so they are deep copies of the RoI head's conv5 ``shared_head`` and
# ``reid_head`` (§3.2). Attach it with
# ``model = dict(type='<Detector>WithGFN', gfn=_base_.tiny_gfn)``.
tiny_gfn = dict(
    type='GalleryFilterNetwork',
    mode='combined',
    query_mode='batch',
    pool_size=14,
    beta=0.2,
    score_temperature=1.0,
    filter_neg=True,
    loss=dict(type='NTXentLoss', temperature=0.1),
    lut=dict(num_pos=1, num_neg=1))
