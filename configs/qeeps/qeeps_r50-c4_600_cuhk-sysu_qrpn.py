# Reproduces QEEPS Table 1, row "+ QRPN" (qgn_qeeps.md §12.1):
# CUHK-SYSU at 600 px: expected G100 79.6 / 80.4 mAP / top-1 (G50
# 82.1 / 82.7); max recall 96.6 %.
_base_ = './qeeps_r50-c4_600_cuhk-sysu.py'

model = dict(
    backbone=dict(with_qsse=False),
    with_qrpn=True,
    with_qsimnet=False)
