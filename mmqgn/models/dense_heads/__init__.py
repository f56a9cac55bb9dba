from .qrpn_head import QRPNAssigner, QRPNHead, fuse_rpn_scores, jitter_boxes

__all__ = ['QRPNAssigner', 'QRPNHead', 'fuse_rpn_scores', 'jitter_boxes']
