"""QSimNet: Query-guided Similarity Network (qgn_qeeps.md §5, decision D6).

``d = (f_q - f_g) ** 2`` (N, D) -> BatchNorm1d(D) -> Linear(D -> 2) ->
softmax ``[p_different, p_same]`` (N, 2); cross-entropy on same/different
pairs (QGN Eq. 4). D = 256 for person search (OIM embeddings).
"""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmqgn.registry import MODELS


@MODELS.register_module()
class QSimNet(BaseModule):
    """Pairwise same/different classifier on query and gallery features.

    Args:
        in_channels (int): D. Defaults to 256.
        loss_sim (dict): 2-way softmax CE; label 1 = same identity.
        init_cfg: defaults to PyTorch's Linear/BN initialisation.
    """

    def __init__(self,
                 in_channels: int = 256,
                 loss_sim: dict = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=1.0),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.bn = nn.BatchNorm1d(in_channels)
        self.fc = nn.Linear(in_channels, 2)
        self.loss_sim = MODELS.build(loss_sim)

    def forward(self, f_q: Tensor, f_g: Tensor) -> Tensor:
        """f_q (N, D) or (1, D) (broadcast), f_g (N, D) -> logits (N, 2)."""
        d = (f_q - f_g).pow(2)
        if self.training and d.size(0) <= 1:  # no batch statistics for 1
            d = F.batch_norm(d, self.bn.running_mean, self.bn.running_var,
                             self.bn.weight, self.bn.bias)
        else:
            d = self.bn(d)
        return self.fc(d)

    def loss(self, f_q: Tensor, f_g: Tensor, labels: Tensor) -> dict:
        """labels (N,) in {0, 1} (1 = same identity) -> dict(loss_sim)."""
        return dict(loss_sim=self.loss_sim(self(f_q, f_g), labels.long()))

    def predict(self, f_q: Tensor, f_g: Tensor) -> Tensor:
        """-> p_same (N,), the softmax probability of class 1."""
        return self(f_q, f_g).softmax(dim=1)[:, 1]
