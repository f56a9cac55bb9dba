"""The contract of an identity branch ("re-id head") of the RoI heads.

What :class:`PersonSearchRoIHead` (and the GFN, which copies the head)
needs of a re-id head: ``forward(res4, res5) -> (N, D)`` unit-norm
embeddings, ``embed_dim``, ``with_loss``, ``loss``, ``loss_and_embed``,
``prototypes`` and ``copy_without_loss``.
"""
import copy
from typing import Tuple

from mmengine.model import BaseModule
from torch import Tensor


class BaseEmbeddingHead(BaseModule):
    """Base of the re-id heads: the re-id loss (``self.loss_reid``, an
    ``OIMLoss`` or None, set by the subclass) and what depends on it.

    Subclasses set ``embed_dim`` and ``loss_reid`` and implement
    ``forward(res4, res5)``; a head with losses of its own on the per-RoI
    maps (PGA) overrides :meth:`loss_and_embed`.
    """

    @property
    def with_loss(self) -> bool:
        return self.loss_reid is not None

    def prototypes(self, labels: Tensor) -> Tensor:
        """Prototypes (N, D) of OIM labels (N,), from the re-id loss (its
        lookup table): detached copies."""
        if not self.with_loss:
            raise ValueError('prototypes need the re-id loss (loss_reid)')
        return self.loss_reid.prototypes(labels)

    def copy_without_loss(self) -> 'BaseEmbeddingHead':
        """A deep copy of the head's layers without the re-id loss (its
        lookup table is not copied); shares no parameter."""
        loss_reid, self.loss_reid = self.loss_reid, None
        try:
            return copy.deepcopy(self)
        finally:
            self.loss_reid = loss_reid

    def loss(self, embeddings: Tensor, labels: Tensor) -> dict:
        """Re-id loss of foreground embeddings (N, D) with person labels
        (N,) (OIM index, -1 unlabeled)."""
        return dict(loss_oim=self.loss_reid(embeddings, labels))

    def loss_and_embed(self, res4: Tensor, res5: Tensor, is_pos: Tensor,
                       labels: Tensor) -> Tuple[dict, Tensor]:
        """Training step of the head on the sampled RoIs: the losses and the
        embeddings (R, D) of all R RoIs (features ``res4`` (R, C4, H, W),
        ``res5`` (R, C5[, h, w])); the loss sees the foreground ones
        (``is_pos`` (R,) bool) with their person ``labels`` (num_pos,)."""
        embeddings = self(res4, res5)
        return self.loss(embeddings[is_pos], labels), embeddings
