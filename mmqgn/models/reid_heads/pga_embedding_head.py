"""Identity branch of PGS: the identity map, prototype-guided attention and
saliency-weighted pooling (pgs_igpn.md §1.3-1.6, decisions P4-P6, P10-P13,
P19)."""
from typing import Optional, Sequence, Tuple

import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import MessageHub, MMLogger
from torch import Tensor

from mmqgn.registry import MODELS
from .base_embedding_head import BaseEmbeddingHead
from .prototype_guided_attention import PrototypeGuidedAttention


@MODELS.register_module()
class PGAEmbeddingHead(BaseEmbeddingHead):
    """Saliency-pooled embeddings of the conv5 RoI maps, trained with OIM
    plus the prototype guidance loss L_att.

    Per RoI, from the conv5 map ``res5`` (R, C5, h, w) (the RoI head's
    ``shared_head`` with ``pool=None``)::

        f = Conv1x1(C5 -> D)(res5)                       # (R, D, h, w), P4
        A = PrototypeGuidedAttention(f)                  # (R, 1, h, w)
        x = L2(sum_p A_p f_p / (sum_p A_p + 1e-6))       # (R, D), P13

    ``res4`` is not used. Training (:meth:`loss_and_embed`): ``loss_oim`` on
    the foreground embeddings, and ``loss_att = w * L_att`` on the
    foreground RoIs of a labeled identity (P5, P6), with the target M of
    each from the OIM lookup table *before* this iteration's update (read
    before ``OIMLoss.forward`` writes the table). ``w`` is
    ``guidance_weight`` (0.1) from the first iteration at which every table
    row is written, 0 before (P10, Eq. 9); that iteration is logged once.
    The weight is a function of the table alone, so it is the same on every
    rank and after a resume. ``guidance_weight=0`` is the paper's
    "self-attention" ablation (P19).

    Parameters: the 1x1 conv ``C5 D + D`` (2048 -> 256: 524,544) plus the
    attention (:class:`PrototypeGuidedAttention`: 17,414 at 7x7, 27,872 at
    14x14), i.e. +17,414 / +27,872 over the paper's GAP baseline with the
    same conv. The paper's Table 3 reports +208 K (3,596 K -> 3,804 K),
    which the described layers do not explain (pgs_igpn.md P11); no layer
    is added to reach it.

    Args:
        in_channels (Sequence[int]): (C4, C5), e.g. (1024, 2048) (C4 is
            unused; the pair keeps the configs of ``PersonEmbeddingHead``).
        embed_dim (int): D. Defaults to 256.
        feat_size (int): h = w of the conv5 map (7; 14 for PGS*).
        channel_ratio (int): r of the channel SE. Defaults to 8.
        spatial_ratio (int): r' of the spatial SE. Defaults to 7.
        guidance_weight (float): lambda of L_att once the table is full.
            Defaults to 0.1.
        loss_reid (dict, optional): the re-id loss, an ``OIMLoss``.
        init_cfg (dict, optional): PyTorch's default init when None (the
            paper states none).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (1024, 2048),
                 embed_dim: int = 256,
                 feat_size: int = 7,
                 channel_ratio: int = 8,
                 spatial_ratio: int = 7,
                 guidance_weight: float = 0.1,
                 loss_reid: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        self.in_channels = tuple(in_channels)
        self.embed_dim = embed_dim
        self.guidance_weight = guidance_weight
        self.reduce = nn.Conv2d(self.in_channels[1], embed_dim, 1)
        self.attention = PrototypeGuidedAttention(
            embed_dim, feat_size, channel_ratio, spatial_ratio)
        self.loss_reid = MODELS.build(loss_reid) if loss_reid else None
        self._guidance_logged = False

    def saliency(self, res5: Tensor) -> Tuple[Tensor, Tensor]:
        """The identity map f (R, D, h, w) and saliency A (R, 1, h, w) of
        conv5 maps (R, C5, h, w)."""
        if res5.dim() != 4:
            raise ValueError(
                'PGAEmbeddingHead needs the conv5 maps (R, C5, h, w), got '
                f'shape {tuple(res5.shape)}: set roi_head.shared_head.pool='
                'None and roi_head.bbox_head.with_avg_pool=True')
        f = self.reduce(res5)
        return f, self.attention(f)

    @staticmethod
    def pool(f: Tensor, attention: Tensor) -> Tensor:
        """Saliency-weighted average of f (R, D, h, w) by A (R, 1, h, w),
        L2-normalised: (R, D)."""
        x = (attention * f).sum(dim=(2, 3))
        return F.normalize(x / (attention.sum(dim=(2, 3)) + 1e-6), dim=1)

    def forward(self, res4: Tensor, res5: Tensor) -> Tensor:
        """(R, C4, H, W), (R, C5, h, w) -> (R, D) unit-norm."""
        return self.pool(*self.saliency(res5))

    def loss(self, embeddings: Tensor, labels: Tensor) -> dict:
        """The OIM term alone (embeddings carry no maps, so no guidance);
        training through the RoI head uses :meth:`loss_and_embed`."""
        return super().loss(embeddings, labels)

    def loss_and_embed(self, res4: Tensor, res5: Tensor, is_pos: Tensor,
                       labels: Tensor) -> Tuple[dict, Tensor]:
        """``loss_oim`` and ``loss_att`` of the sampled RoIs (foreground
        mask ``is_pos`` (R,), person ``labels`` (num_pos,), -1 unlabeled)
        and the embeddings (R, D) of all of them."""
        f, attention = self.saliency(res5)
        embeddings = self.pool(f, attention)
        f, attention = f[is_pos], attention[is_pos]
        labeled = labels >= 0
        # the guidance target and its weight from the table as it is now,
        # before OIMLoss.forward updates it
        target = PrototypeGuidedAttention.response_map(
            f[labeled], self.prototypes(labels[labeled]))
        weight = self.guidance_weight if self._table_full() else 0.0
        losses = self.loss(embeddings[is_pos], labels)
        losses['loss_att'] = weight * PrototypeGuidedAttention.guidance_loss(
            attention[labeled], target)
        return losses, embeddings

    def _table_full(self) -> bool:
        """Whether every lookup-table row is written; logs the first
        iteration at which it is (while the guidance weight is > 0)."""
        full = bool(self.loss_reid.written_rows().all())
        if full and self.guidance_weight > 0 and not self._guidance_logged:
            self._guidance_logged = True
            it = MessageHub.get_current_instance().get_info('iter')
            when = 'an unknown iteration' if it is None \
                else f'iteration {it + 1}'
            MMLogger.get_current_instance().info(
                'PGA: every OIM lookup-table row is written; the prototype '
                f'guidance loss is on (weight {self.guidance_weight}) from '
                f'{when}')
        return full
