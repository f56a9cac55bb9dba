"""QSimNet: Query-guided Similarity Network (qgn_qeeps.md §5, decision D6).

``d = (f_q - f_g) ** 2`` (N, D) -> BatchNorm1d(D) -> Linear(D -> 2) ->
softmax ``[p_different, p_same]`` (N, 2); cross-entropy on same/different
pairs (QGN Eq. 4). D = 256 for person search (OIM embeddings).

The papers do not state QSimNet's initialisation. ``distance_init=True``
starts it as a ranking by the (BN-standardised) squared distance: the
p_same logit margin is ``-sum(BN(d)) / sqrt(D)``, so for unit embeddings and
the initial running statistics it ranks pairs exactly as their cosine
similarity (the OIM ranking the model is fine-tuned from, qgn_qeeps.md §8.2)
and training starts from there; False keeps PyTorch's default
initialisation.
"""
import math
from typing import Optional

import torch
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
        distance_init (bool): start as a distance ranking (module doc).
            Defaults to False.
        init_cfg: defaults to PyTorch's Linear/BN initialisation.
    """

    def __init__(self,
                 in_channels: int = 256,
                 loss_sim: dict = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=1.0),
                 distance_init: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.bn = nn.BatchNorm1d(in_channels)
        self.fc = nn.Linear(in_channels, 2)
        self.loss_sim = MODELS.build(loss_sim)
        self.distance_init = distance_init
        self._init_distance()

    def _init_distance(self) -> None:
        """fc rows +-w / 2 (class 0 = different, 1 = same), zero bias."""
        if self.distance_init:
            w = 0.5 / math.sqrt(self.fc.in_features)
            nn.init.constant_(self.fc.weight[0], w)
            nn.init.constant_(self.fc.weight[1], -w)
            nn.init.zeros_(self.fc.bias)

    def init_weights(self) -> None:
        """``init_cfg`` (if any), then the distance start (if set)."""
        super().init_weights()
        with torch.no_grad():
            self._init_distance()

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
