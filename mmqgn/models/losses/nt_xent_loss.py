"""NT-Xent contrastive loss of the Gallery Filter Network.

gfn_seqnext.md §3.3 "Reduction" (pytorch-metric-learning ``NTXentLoss``
wrapped as the reference's ``SafeNTXentLoss``) and §8.1 decision 5 (mean
over positive pairs).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmqgn.registry import MODELS


@MODELS.register_module()
class NTXentLoss(nn.Module):
    """NT-Xent over an anchor-by-candidate similarity matrix.

    For similarities ``s`` (A, C), boolean ``pos_mask`` and ``neg_mask``
    (A, C), every positive pair (a, p) contributes::

        l_ap = -log( e^{s_ap/t} / (e^{s_ap/t} + sum_{n: neg[a, n]} e^{s_an/t})
                     + eps )

    computed after subtracting m = max(s_ap, max_n s_an) / t (detached);
    eps is the dtype's smallest normal number. The loss is the mean of l_ap
    over positive pairs, times ``loss_weight``. It is 0 (still connected to
    the graph) when there is no positive or no negative pair in the batch
    (pytorch-metric-learning's behaviour), and a NaN/Inf result is replaced
    by 0 ("safe" variant).

    Args:
        temperature (float): t. Defaults to 0.1.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 0.1,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        assert temperature > 0
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, similarity: Tensor, pos_mask: Tensor,
                neg_mask: Tensor) -> Tensor:
        """Scalar loss of ``similarity`` (A, C) with masks (A, C)."""
        pos_mask, neg_mask = pos_mask.bool(), neg_mask.bool()
        zero = similarity.nan_to_num(0.0, 0.0, 0.0).sum() * 0.0
        if not pos_mask.any() or not neg_mask.any():
            return zero
        s = similarity.float() / self.temperature
        neg = s.masked_fill(~neg_mask, float('-inf'))  # (A, C)
        anchor, cand = pos_mask.nonzero(as_tuple=True)  # (P,)
        s_pos = s[anchor, cand]  # (P,)
        m = torch.maximum(s_pos, neg.max(dim=1).values[anchor]).detach()
        numerator = torch.exp(s_pos - m)
        denominator = torch.exp(neg[anchor] - m[:, None]).sum(1) + numerator
        eps = torch.finfo(s.dtype).tiny
        loss = -torch.log(numerator / denominator + eps).mean()
        if not torch.isfinite(loss):
            return zero
        return self.loss_weight * loss.to(similarity.dtype)

    def forward_embeddings(self,
                           anchors: Tensor,
                           candidates: Tensor,
                           pos_mask: Tensor,
                           neg_mask: Optional[Tensor] = None) -> Tensor:
        """Loss on cosine similarities of ``anchors`` (A, D) and
        ``candidates`` (C, D); ``neg_mask`` defaults to ``~pos_mask``."""
        sim = F.normalize(anchors, dim=1) @ F.normalize(candidates, dim=1).t()
        if neg_mask is None:
            neg_mask = ~pos_mask.bool()
        return self(sim, pos_mask, neg_mask)
