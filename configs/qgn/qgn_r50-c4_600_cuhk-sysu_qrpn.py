# Reproduces QGN Table 7, R50 row "+ QRPN"
# (qgn_qeeps.md §12.2): CUHK-SYSU gallery 100 at 600 px: expected
# 79.6 mAP / 80.4 top-1.
_base_ = './qgn_r50-c4_600_cuhk-sysu.py'

model = dict(
    backbone=dict(with_qsse=False),
    with_qrpn=True,
    with_qsimnet=False)
