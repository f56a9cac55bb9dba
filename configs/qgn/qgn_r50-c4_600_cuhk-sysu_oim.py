# Reproduces QGN Table 7, R50 row "OIM (re-implemented baseline)"
# (qgn_qeeps.md §12.2): CUHK-SYSU gallery 100 at 600 px: expected
# 77.2 mAP / 77.6 top-1.
# With every module off this is the Siamese OIM fine-tuned on pairs
# for the same 4 epochs (a control for the extra training); the
# paper's row is the stage-1 OIM itself (cosine ranking, E4).
_base_ = './qgn_r50-c4_600_cuhk-sysu.py'

model = dict(
    backbone=dict(with_qsse=False),
    with_qrpn=False,
    with_qsimnet=False)
