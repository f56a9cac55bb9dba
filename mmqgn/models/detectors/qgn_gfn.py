"""QGN with a Gallery Filter Network (gfn_seqnext.md §3 on qgn_qeeps.md §1).

A query-guided detector scores a gallery image only jointly with a query
(one Siamese QSSE forward per pair, qgn_qeeps.md §9.2), so discarding a scene
before detection saves a whole pair forward. The GFN of SeqNeXt needs scene
embeddings that do not depend on the query, so here it runs on the
*unguided* pass of the shared backbone (``QSSEResNet.forward_single``: the
same weights, no QSSE excitation): gallery scene embeddings are computed once
per image and cached across queries (:class:`QueryMajorTestLoop`), and a
query's person and scene embeddings once per query.

Training (§3.8, 'batch' query mode): ``loss`` = the seven QGN losses plus
``loss_gfn`` on the unguided pass of the pair batch's distinct images (the
query and gallery frames of the pairs, so every query person has a positive
scene: its pair's gallery). Persons are the GT boxes through the RoI head's
reid path (with gradient); their ids are ``gt_instances.person_ids``.
"""
from typing import List, Optional, Tuple

import torch
from mmdet.structures import SampleList

from torch import Tensor

from mmqgn.registry import MODELS
from .gfn_wrapper import GFNDetectorMixin
from .qgn import QGN


def distinct_scenes(batch_data_samples: SampleList) -> List[int]:
    """Indices (ascending) of the flattened pair batch whose images enter
    the GFN loss: one copy per ``img_id``, the gallery copy first.

    A query sample holds only its query box, so the query copy of an image
    that is also a gallery of the batch would be a scene with missing
    persons (false negatives for them); it is dropped. Samples without
    ``img_id`` are all kept.
    """
    half = len(batch_data_samples) // 2
    order = list(range(half, len(batch_data_samples))) + list(range(half))
    seen, keep = set(), []
    for i in order:
        img_id = batch_data_samples[i].metainfo.get('img_id')
        if img_id is not None and img_id in seen:
            continue
        seen.add(img_id)
        keep.append(i)
    return sorted(keep)


@MODELS.register_module()
class QGNWithGFN(GFNDetectorMixin, QGN):
    """:class:`QGN` with an optional :class:`GalleryFilterNetwork`.

    The GFN is built by :class:`GFNDetectorMixin` (``scene_head`` /
    ``emb_head`` left out of ``gfn`` are deep copies of the RoI head's conv5
    ``shared_head`` and of its ``reid_head`` without the OIM loss); the pair
    ``predict`` and ``_forward`` are those of :class:`QGN`.

    Query-independent GFN inputs (plain, non-pair batches of N images):

    - :meth:`scene_embedding`: (N, 3, H, W) -> unit scene embeddings (N, D);
    - :meth:`query_gfn_embeddings`: query images whose ``gt_instances``
      hold the query box -> (persons (N, D), scenes (N, D)).

    Args:
        gfn (dict, optional): the GFN config; None gives plain QGN (same
            parameters, losses and outputs).
        gfn_backbone_grad (bool): ``loss_gfn`` back-propagates into the
            shared backbone through the unguided pass (as the GFN paper
            trains it, §3.2). False runs that pass without gradient (the
            GFN and the reid path still learn). Defaults to True.
        **kwargs: the :class:`QGN` arguments.
    """

    def _require_gfn(self) -> None:
        if not self.with_gfn:
            raise RuntimeError('QGNWithGFN: the detector has no GFN '
                               '(model.gfn=None)')

    # ------------------------------------------------ unguided GFN inputs
    def scene_embedding(
            self,
            batch_inputs: Tensor,
            batch_data_samples: Optional[SampleList] = None) -> Tensor:
        """(N, 3, H, W) -> scene embeddings (N, D) of the unguided pass
        (each image's valid region with data samples, else the whole map)."""
        self._require_gfn()
        return self._scene_embeddings(self.extract_unguided_feat(batch_inputs),
                                      batch_data_samples)

    def query_gfn_embeddings(
            self, batch_inputs: Tensor,
            batch_data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        """N query images (one query box each) -> GFN person embeddings
        (N, D) and scene embeddings (N, D), one unguided pass."""
        self._require_gfn()
        x = self.extract_unguided_feat(batch_inputs)
        return (self.roi_head.embed_boxes(x,
                                          self.query_bboxes(batch_data_samples)),
                self._scene_embeddings(x, batch_data_samples))

    # ---------------------------------------------------------------- loss
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        """Flattened pair batch -> the QGN losses, plus ``loss_gfn``."""
        losses = QGN.loss(self, batch_inputs, batch_data_samples)
        if self.with_gfn:
            losses.update(self.pair_gfn_loss(batch_inputs, batch_data_samples))
        return losses

    def pair_gfn_loss(self, batch_inputs: Tensor,
                      batch_data_samples: SampleList) -> dict:
        """``loss_gfn`` on the unguided pass of the batch's distinct images
        (:func:`distinct_scenes`)."""
        keep = distinct_scenes(batch_data_samples)
        grad = self.gfn_backbone_grad and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad):
            x = self.extract_unguided_feat(batch_inputs[keep])
        return self.gfn_loss(x, [batch_data_samples[i] for i in keep])

    # ------------------------------------------------------------- predict
    predict = QGN.predict
    _forward = QGN._forward
