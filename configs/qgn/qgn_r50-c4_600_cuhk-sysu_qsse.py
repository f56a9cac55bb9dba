# Reproduces QGN Table 7, R50 row "+ QSSE"
# (qgn_qeeps.md §12.2): CUHK-SYSU gallery 100 at 600 px: expected
# 80.1 mAP / 80.6 top-1.
_base_ = './qgn_r50-c4_600_cuhk-sysu.py'

model = dict(
    backbone=dict(with_qsse=True),
    with_qrpn=False,
    with_qsimnet=False)
