"""What QGN reuses across pairs at test time, and its Gallery Filter Network
(qgn_qeeps.md §9.3 and decision E1; gfn_seqnext.md §3 on qgn_qeeps.md §1).

The :class:`QueryGuidedDetector` methods of :class:`QGN`, by what the
model's structure lets a searcher reuse (:attr:`QGNSearchMixin.pair_reuse`):

- 'none' (QSSE: every stream depends on the partner image, §3.4): codes are
  the pipeline items, every pair runs the whole Siamese network;
- 'feats' (no QSSE, with QRPN): codes are per-image BaseNet features
  (``extract_unguided_feat``, each image alone, padded to its own size);
  per pair only QRPN, the RPN, the RoI head and QSimNet run;
- 'dets' (no QSSE, no QRPN): the gallery code holds the image's detections
  and their embeddings, the query code f_q; per pair only QSimNet (or the
  cosine) and the final NMS run.

GFN: the scene embeddings must not depend on the query, so the GFN runs on
the *unguided* pass of the shared backbone (``QSSEResNet.forward_single``:
the same weights, no QSSE excitation). Training (§3.8, 'batch' query mode):
``loss_gfn`` on the unguided pass of the pair batch's distinct images
(:func:`distinct_scenes`).
"""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from ..data_preprocessors import plain_batch
from .query_guided import pair_forward


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


class QGNSearchMixin:
    """Test-time reuse and GFN inputs of :class:`QGN` (see the module)."""

    # -------------------------------------------------------- reuse (E1)
    @property
    def pair_independent_feats(self) -> bool:
        """True without QSSE: an image's BaseNet features then do not depend
        on its partner (§9.3 engineering note, decision E1)."""
        return not self.backbone.query_guided

    @property
    def pair_independent_dets(self) -> bool:
        """True without QSSE and QRPN: a gallery image's detections and
        their embeddings then do not depend on the query."""
        return self.pair_independent_feats and not self.with_qrpn

    @property
    def pair_reuse(self) -> str:
        """'none', 'feats' or 'dets': what the codes hold (see module)."""
        if self.pair_independent_dets:
            return 'dets'
        return 'feats' if self.pair_independent_feats else 'none'

    def image_feats(self, item: dict) -> Tuple[Tuple[Tensor], object]:
        """One pipeline item -> (unguided BaseNet features, tuple of
        (1, C, h, w); its preprocessed data sample)."""
        data = self._plain_batch(item)
        return (self.extract_unguided_feat(data['inputs']),
                data['data_samples'][0])

    def encode_query(self, item: dict):
        """'none': the item; 'feats': (features, sample); 'dets': (f_q
        (1, D), sample)."""
        if self.pair_reuse == 'none':
            return item
        x, sample = self.image_feats(item)
        if self.pair_reuse == 'dets':
            x = self.roi_head.query_embeddings(x, self.query_bboxes([sample]))
        return x, sample

    def encode_gallery(self, item: dict):
        """'none': the item; 'feats': (features, sample); 'dets':
        (detections, sample)."""
        if self.pair_reuse == 'none':
            return item
        x, sample = self.image_feats(item)
        if self.pair_reuse == 'dets':
            return self.gallery_detections(x, [sample])[0], sample
        return x, sample

    def predict_pairs(self, query, galleries: Sequence,
                      query_ann_id: int) -> SampleList:
        """Codes of one query and B galleries -> B predicted gallery
        samples; with 'feats', galleries whose maps differ in size run in
        separate groups (no feature padding)."""
        if self.pair_reuse == 'none':
            return pair_forward(self, query, galleries, query_ann_id)
        samples = _pair_samples(query_ann_id, galleries)
        if self.pair_reuse == 'dets':
            return self.predict_from_detections(
                query[0].expand(len(galleries), -1),
                [d for d, _ in galleries], samples)
        groups: Dict[tuple, List[int]] = OrderedDict()
        for i, (x, _) in enumerate(galleries):
            groups.setdefault(tuple(x[0].shape[-2:]), []).append(i)
        outputs = [None] * len(galleries)
        (x_q, q_sample) = query
        for idx in groups.values():
            n = len(idx)
            x_g = tuple(
                torch.cat(maps)
                for maps in zip(*[galleries[i][0] for i in idx]))
            # repeat, not expand: mmcv's RoIAlign misreads stride-0 maps
            preds = self.predict_pair_feats(
                tuple(t.repeat(n, 1, 1, 1) for t in x_q), x_g,
                [copy.deepcopy(q_sample) for _ in range(n)],
                [samples[i] for i in idx])
            for i, pred in zip(idx, preds):
                outputs[i] = pred
        return outputs

    def gallery_detections(self, x_g: Tuple[Tensor],
                           galleries: SampleList) -> InstanceList:
        """BaseNet features (B, C, h, w) of B gallery images -> their
        query-independent detections (``QGNRoIHead.detect``)."""
        assert self.pair_independent_dets, 'needs no QSSE and no QRPN'
        proposals = self.proposals(
            self.rpn_forward(x_g, None, None), galleries, self.test_cfg.rpn)
        return self.roi_head.detect(x_g, proposals, galleries)

    def predict_from_detections(self, f_q: Tensor, detections: InstanceList,
                                galleries: SampleList,
                                rescale: bool = True) -> SampleList:
        """Query embeddings f_q (B, D) and B galleries' ``gallery_detections``
        -> the B gallery samples with ``pred_instances`` (as ``predict``)."""
        results_list = self.roi_head.rank(detections, f_q, galleries, rescale)
        return self.add_pred_to_datasample(galleries, results_list)

    # --------------------------------------------------------------- GFN
    def gfn_loss_inputs(self, batch_inputs: Tensor,
                        batch_data_samples: SampleList,
                        x: Tuple[Tensor]) -> Tuple[Tuple[Tensor], SampleList]:
        """The unguided pass of the batch's distinct images
        (:func:`distinct_scenes`), without gradient into the backbone unless
        ``gfn_backbone_grad``."""
        keep = distinct_scenes(batch_data_samples)
        grad = self.gfn_backbone_grad and torch.is_grad_enabled()
        with torch.set_grad_enabled(grad):
            feats = self.extract_unguided_feat(batch_inputs[keep])
        return feats, [batch_data_samples[i] for i in keep]

    def scene_embedding(
            self,
            batch_inputs: Tensor,
            batch_data_samples: Optional[SampleList] = None) -> Tensor:
        """(N, 3, H, W) plain images -> scene embeddings (N, D) of the
        unguided pass (each image's valid region with data samples)."""
        return self.scene_embeddings(self.extract_unguided_feat(batch_inputs),
                                     batch_data_samples)

    def query_gfn_embeddings(
            self, batch_inputs: Tensor,
            batch_data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        """N query images (one query box each) -> GFN person embeddings
        (N, D) and scene embeddings (N, D), one unguided pass."""
        if not self.with_gfn:
            raise RuntimeError(f'{type(self).__name__} has no GFN (gfn=None)')
        x = self.extract_unguided_feat(batch_inputs)
        return (self.roi_head.embed_boxes(x,
                                          self.query_bboxes(batch_data_samples)),
                self.scene_embeddings(x, batch_data_samples))

    def gfn_query(self, item: dict) -> Dict[str, Tensor]:
        """A query item -> ``dict(embedding=(D,), scene_embedding=(D,))``."""
        data = self._plain_batch(item)
        persons, scenes = self.query_gfn_embeddings(data['inputs'],
                                                    data['data_samples'])
        return dict(embedding=persons[0], scene_embedding=scenes[0])

    def gfn_scene(self, item: dict) -> Tensor:
        """A gallery item -> its (D,) scene embedding (the image alone)."""
        data = self._plain_batch(item)
        return self.scene_embedding(data['inputs'], data['data_samples'])[0]

    def _plain_batch(self, item: dict) -> dict:
        """One item -> a preprocessed plain batch of one image."""
        return self.data_preprocessor(plain_batch([item]), False)


def _pair_samples(query_ann_id: int, galleries: Sequence) -> List:
    """Copies of the galleries' cached samples, as pair samples."""
    samples = []
    for _, sample in galleries:
        sample = copy.deepcopy(sample)
        sample.set_metainfo(dict(query_ann_id=int(query_ann_id),
                                 is_query=False))
        samples.append(sample)
    return samples
