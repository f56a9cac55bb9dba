"""Prototype-guided attention (PGA) of PGS (Kim et al.; pgs_igpn.md §1.4,
decisions P5, P12).

A channel SE then a spatial SE on the per-RoI identity map f give a
saliency map A; the guidance target M is the ReLU of the per-pixel cosine
between f and the identity's OIM prototype.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmqgn.registry import MODELS


@MODELS.register_module()
class PrototypeGuidedAttention(BaseModule):
    """Saliency A (R, 1, h, w) of identity maps f (R, d, h, w) (Eqs. 3-4).

    ::

        z   = sigmoid(W2c relu(W1c mean_hw(f)))        # (R, d), d -> d/r -> d
        f_s = mean_c(z_c f_c)                          # (R, hw)
        A   = sigmoid(W2s relu(W1s f_s))               # (R, hw), hw -> hw/r'

    ``f_s`` is the channel *mean* of the z-weighted map (P12: the paper says
    "channel-wise pooled with the weight z"; a mean keeps the scale
    independent of d); ``z`` is used only to form ``f_s``. Parameters
    (weights + biases): channel SE ``2 d (d / r) + d / r + d`` (d = 256,
    r = 8: 16,672) and spatial SE ``2 hw (hw / r') + hw / r' + hw``
    (7x7, r' = 7: 742; 14x14: 11,200). ``hw / r'`` is floored and at least
    1 (a 4x4 map of the tiny configs: 2).

    Args:
        channels (int): d. Defaults to 256.
        feat_size (int): h = w of the map (7; 14 for PGS* with a dilated
            conv5, pgs_igpn.md P1).
        channel_ratio (int): r. Defaults to 8.
        spatial_ratio (int): r'. Defaults to 7.
        init_cfg (dict, optional): PyTorch's default Linear init when None
            (the paper states none).
    """

    def __init__(self,
                 channels: int = 256,
                 feat_size: int = 7,
                 channel_ratio: int = 8,
                 spatial_ratio: int = 7,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.channels = channels
        self.feat_size = feat_size
        hw = feat_size * feat_size
        self.channel_se = _se(channels, max(1, channels // channel_ratio))
        self.spatial_se = _se(hw, max(1, hw // spatial_ratio))

    def forward(self, f: Tensor) -> Tensor:
        """(R, d, h, w) -> A (R, 1, h, w) in (0, 1)."""
        num, channels, h, w = f.shape
        if (channels, h, w) != (self.channels, self.feat_size,
                                self.feat_size):
            raise ValueError(
                f'PrototypeGuidedAttention: got maps of {channels} x {h} x '
                f'{w}, built for {self.channels} x {self.feat_size} x '
                f'{self.feat_size}: set feat_size to the conv5 output size '
                '(the RoIAlign output_size over the conv5 stride)')
        z = self.channel_se(f.mean(dim=(2, 3)))
        f_s = (z[:, :, None, None] * f).mean(dim=1).flatten(1)
        return self.spatial_se(f_s).view(num, 1, h, w)

    @staticmethod
    def response_map(f: Tensor, prototypes: Tensor) -> Tensor:
        """Guidance target M (R, 1, h, w) in [0, 1] (Eq. 5): the ReLU of the
        cosine between each pixel's feature f[:, :, y, x] (R, d, h, w) and
        the RoI's prototype (R, d); detached (no gradient to f nor to the
        lookup table). A zero feature or prototype gives 0."""
        with torch.no_grad():
            cos = F.cosine_similarity(
                f.detach().float(),
                prototypes.detach().float()[:, :, None, None],
                dim=1,
                eps=1e-8)
            return cos.clamp(min=0)[:, None]

    @staticmethod
    def guidance_loss(attention: Tensor, target: Tensor) -> Tensor:
        """L_att (Eq. 6, P5): squared error between A and M (R, 1, h, w),
        summed over the map and averaged over the R RoIs (0 when R = 0)."""
        err = (attention.float() - target).pow(2).sum(dim=(1, 2, 3))
        return err.sum() / max(err.numel(), 1)


def _se(dim: int, hidden: int) -> nn.Sequential:
    """Squeeze-excitation MLP: dim -> hidden -> dim, ReLU, sigmoid."""
    return nn.Sequential(
        nn.Linear(dim, hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, dim), nn.Sigmoid())
