# Reproduces QEEPS Table 1, row "+ QRPN + QSimNet" (qgn_qeeps.md §12.1):
# CUHK-SYSU at 600 px: expected G100 83.1 / 83.3 mAP / top-1 (G50
# 86.2 / 86.7); max recall 98.2 %.
_base_ = './qeeps_r50-c4_600_cuhk-sysu.py'

model = dict(
    backbone=dict(with_qsse=False),
    with_qrpn=True,
    with_qsimnet=True)
