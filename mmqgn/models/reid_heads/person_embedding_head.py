"""Identity branch ("ID Net") of the OIM person-search detectors.

qgn_qeeps.md §2.1-2.2 and decision D8 (QGN Table 9 "gCat", NAE4PS
``NormAwareEmbeddingProj`` without the norm rescaler): per-RoI features ->
L2-normalised embeddings, trained with :class:`OIMLoss`.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmqgn.registry import MODELS
from ..utils import global_pool
from .base_embedding_head import BaseEmbeddingHead


@MODELS.register_module()
class PersonEmbeddingHead(BaseEmbeddingHead):
    """Project pooled RoI features to an L2-normalised embedding.

    gCat on: ``[BN(Linear(C4->D/2)(pool(res4))) || BN(Linear(C5->D/2)(res5))]``
    then L2; gCat off: ``L2(BN(Linear(C5->D)(res5)))``.

    Inputs: ``res4`` (N, C4, H, W) RoI features from the RoI extractor, and
    ``res5`` (N, C5) (or (N, C5, h, w), pooled here) from the conv5 head.
    Output: (N, D) unit-norm embeddings.

    Args:
        in_channels (Sequence[int]): (C4, C5), e.g. (1024, 2048).
        embed_dim (int): D. Defaults to 256.
        gcat (bool): use the res4 feature too. Defaults to True.
        pool (str): global pool of 4-D inputs, 'max' (NAE4PS) or 'avg'.
        loss_reid (dict, optional): the re-id loss, e.g. ``OIMLoss``.
        init_cfg: Linear and BN weights N(0, 0.01), biases 0 (NAE4PS).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (1024, 2048),
                 embed_dim: int = 256,
                 gcat: bool = True,
                 pool: str = 'max',
                 loss_reid: Optional[dict] = None,
                 init_cfg: Optional[dict] = dict(
                     type='Normal',
                     layer=['Linear', 'BatchNorm1d'],
                     std=0.01,
                     bias=0)) -> None:
        super().__init__(init_cfg)
        c4, c5 = in_channels
        self.embed_dim = embed_dim
        self.gcat = gcat
        self.pool = pool
        if gcat:
            self.proj_res4 = self._projector(c4, embed_dim // 2)
            self.proj_res5 = self._projector(c5, embed_dim - embed_dim // 2)
        else:
            self.proj_res5 = self._projector(c5, embed_dim)
        self.loss_reid = MODELS.build(loss_reid) if loss_reid else None

    @staticmethod
    def _projector(in_dim: int, out_dim: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim))

    def forward(self, res4: Tensor, res5: Tensor) -> Tensor:
        """(N, C4, H, W), (N, C5[, h, w]) -> (N, D) unit-norm."""
        parts = [self._project(self.proj_res5, global_pool(res5, self.pool))]
        if self.gcat:
            res4 = global_pool(res4, self.pool)
            parts.insert(0, self._project(self.proj_res4, res4))
        return F.normalize(torch.cat(parts, dim=1), dim=1)

    def _project(self, proj: nn.Sequential, x: Tensor) -> Tensor:
        """Linear + BN1d; BN uses running statistics for batches of <= 1."""
        linear, bn = proj
        x = linear(x)
        if self.training and x.size(0) <= 1:
            return F.batch_norm(x, bn.running_mean, bn.running_var,
                                bn.weight, bn.bias, False, 0.0, bn.eps)
        return bn(x)
