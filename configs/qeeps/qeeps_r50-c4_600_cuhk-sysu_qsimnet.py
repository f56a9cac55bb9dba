# Reproduces QEEPS Table 1, row "+ QSimNet" (qgn_qeeps.md §12.1):
# CUHK-SYSU at 600 px: expected G100 82.6 / 83.0 mAP / top-1 (G50
# 85.1 / 85.6); max recall 98.1 %.
_base_ = './qeeps_r50-c4_600_cuhk-sysu.py'

model = dict(
    backbone=dict(with_qsse=False),
    with_qrpn=False,
    with_qsimnet=True)
