"""Base class of the mmqgn person-search detectors, with an optional Gallery
Filter Network head (gfn_seqnext.md §3, §8.1 decisions 1-2, 8-9, 11).

:class:`PersonSearchDetector` is mmdet's ``TwoStageDetector`` with

- ``loss`` split into :meth:`extract_feat` and :meth:`loss_from_feats`, the
  step a subclass overrides (QGN: the pair losses);
- ``predict`` split likewise into :meth:`predict_from_feats`;
- an optional ``gfn`` head built, trained and used like mmdet's optional
  heads (``with_gfn`` as ``with_mask``)::

      model = dict(type='OIM',          # or 'SeqNeXt', 'QGN'
                   ...,
                   gfn=dict(type='GalleryFilterNetwork', pool_size=56))

``gfn=None`` gives the plain detector (same parameters, losses, outputs).
``scene_head`` / ``emb_head`` left out of ``gfn`` are copies of the RoI
head's conv5 ``shared_head`` and of its ``reid_head`` without the OIM loss
(§3.2): built at construction, sharing no parameter, and set equal to the
detector's heads again after ``init_weights`` (§3.2 and its checklist: they
start identical; otherwise ``init_weights`` would redraw each copy).

The RoI head must be a :class:`PersonSearchRoIHead` (public
``embed_boxes``, ``prototypes``, ``reid_head.copy_without_loss``).
"""
import copy
from typing import Optional, Sequence, Tuple

import torch
from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from torch import Tensor

from mmqgn.registry import MODELS
from ..gfn import GalleryFilterNetwork, valid_feature_sizes
from ..utils import empty_boxes, is_query_sample


@MODELS.register_module()
class PersonSearchDetector(TwoStageDetector):
    """Two-stage person-search detector with an optional GFN.

    Training (§3.8): the detector's losses from :meth:`loss_from_feats`,
    plus ``loss_gfn`` with a GFN, computed by :meth:`gfn_loss` on the
    features and samples :meth:`gfn_loss_inputs` returns (default: the
    backbone features ``x`` of the batch, detached when
    ``gfn_backbone_grad=False``). Query persons of the GFN loss: in 'batch'
    query mode the embeddings (Q, D) of all GT boxes (with gradient); in
    'proto' mode (§3.6) the OIM prototypes of the known GT persons (no
    gradient). Person ids: ``gt_instances.person_ids``, else
    ``person_labels`` (-1 unknown); image ids (``img_id``) for the GFN's LUT
    if it has one.

    Test: ``predict`` as mmdet (``pred_instances`` per image); with a GFN
    every sample also carries ``scene_embedding`` (D,), unit norm, and
    query samples (metainfo ``is_query``) ``gfn_query`` (3D + 3,), the
    query code of :meth:`GalleryFilterNetwork.query_code`.

    Args:
        gfn (dict, optional): :class:`GalleryFilterNetwork` config; None
            disables the GFN.
        gfn_backbone_grad (bool): ``loss_gfn`` back-propagates into the
            shared backbone, as the paper trains it (§3.2). False detaches
            the backbone features it sees (the GFN heads and the person
            embedding path still learn), so the GFN cannot change the
            detector's features. Defaults to True.
        others: those of :class:`mmdet.models.TwoStageDetector`.
    """

    def __init__(self,
                 backbone: ConfigType,
                 rpn_head: OptConfigType = None,
                 roi_head: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 neck: OptConfigType = None,
                 gfn: OptConfigType = None,
                 gfn_backbone_grad: bool = True,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(
            backbone=backbone,
            neck=neck,
            rpn_head=rpn_head,
            roi_head=roi_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.gfn_backbone_grad = gfn_backbone_grad
        self.gfn = self._build_gfn(gfn) if gfn is not None else None

    def _build_gfn(self, cfg: dict) -> GalleryFilterNetwork:
        """Build the GFN; missing heads are copies of the person modules."""
        cfg = copy.deepcopy(dict(cfg))
        self.gfn_copied_heads = tuple(
            name for name in ('scene_head', 'emb_head')
            if cfg.get(name) is None)
        if cfg.get('scene_head') is None:
            cfg['scene_head'] = self.roi_head.shared_head
        if cfg.get('emb_head') is None:
            cfg['emb_head'] = self.roi_head.reid_head.copy_without_loss()
        return MODELS.build(cfg)

    def init_weights(self) -> None:
        """mmengine's ``init_weights``, then the GFN heads that are copies
        are set equal to the detector's heads again."""
        super().init_weights()
        if self.with_gfn:
            self.copy_person_heads_to_gfn(self.gfn_copied_heads)

    @property
    def with_gfn(self) -> bool:
        """Whether the detector has a Gallery Filter Network."""
        return self.gfn is not None

    @property
    def gfn_filter_thr(self) -> Optional[float]:
        """``test_cfg.gfn.filter_thr``: the two-phase search threshold (None
        when absent or without a GFN: weighting only, decision 3)."""
        if not self.with_gfn:
            return None
        thr = ((self.test_cfg or {}).get('gfn') or {}).get('filter_thr')
        return None if thr is None else float(thr)

    @torch.no_grad()
    def copy_person_heads_to_gfn(
            self, heads: Sequence[str] = ('scene_head', 'emb_head')) -> int:
        """Copy ``roi_head.shared_head`` -> ``gfn.scene_head`` and
        ``roi_head.reid_head`` (no OIM table) -> ``gfn.emb_head`` (those of
        ``heads``), tensors of equal name and shape; returns the number of
        tensors copied."""
        sources = dict(scene_head=self.roi_head.shared_head,
                       emb_head=self.roi_head.reid_head)
        copied = 0
        for name in heads:
            src, dst = sources[name], getattr(self.gfn, name)
            own = dst.state_dict()
            state = {k: v for k, v in src.state_dict().items()
                     if k in own and own[k].shape == v.shape}
            dst.load_state_dict(state, strict=False)
            copied += len(state)
        return copied

    # -------------------------------------------------------------- loss
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        """The detector's losses, plus ``loss_gfn`` with a GFN."""
        x = self.extract_feat(batch_inputs)
        losses = self.loss_from_feats(x, batch_data_samples)
        if self.with_gfn:
            losses.update(
                self.gfn_loss(*self.gfn_loss_inputs(batch_inputs,
                                                    batch_data_samples, x)))
        return losses

    def loss_from_feats(self, x: Tuple[Tensor],
                        batch_data_samples: SampleList) -> dict:
        """``TwoStageDetector.loss`` after ``extract_feat``: RPN (class
        agnostic, keys prefixed ``rpn_``) and RoI-head losses."""
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.rpn)
        rpn_data_samples = copy.deepcopy(batch_data_samples)
        for data_sample in rpn_data_samples:
            data_sample.gt_instances.labels = torch.zeros_like(
                data_sample.gt_instances.labels)
        rpn_losses, rpn_results_list = self.rpn_head.loss_and_predict(
            x, rpn_data_samples, proposal_cfg=proposal_cfg)
        losses = {
            (f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v
            for k, v in rpn_losses.items()
        }
        losses.update(
            self.roi_head.loss(x, rpn_results_list, batch_data_samples))
        return losses

    def gfn_loss_inputs(self, batch_inputs: Tensor,
                        batch_data_samples: SampleList,
                        x: Tuple[Tensor]) -> Tuple[Tuple[Tensor], SampleList]:
        """Features and samples of the GFN loss: the batch's backbone
        features (detached without ``gfn_backbone_grad``)."""
        if not self.gfn_backbone_grad:
            x = tuple(f.detach() for f in x)
        return x, batch_data_samples

    def gfn_loss(self, x: Tuple[Tensor],
                 batch_data_samples: SampleList) -> dict:
        """``loss_gfn`` of the batch (§3.8): GT persons (Q, D) vs scenes
        (B, D)."""
        gts = [ds.gt_instances for ds in batch_data_samples]
        boxes = [get_box_tensor(g.bboxes).float() for g in gts]
        pids = [_person_ids(g, b.device) for g, b in zip(gts, boxes)]
        person_scene = torch.cat([
            torch.full((len(b), ), i, dtype=torch.long, device=b.device)
            for i, b in enumerate(boxes)
        ])
        person_pids = torch.cat(pids)
        if self.gfn.query_mode == 'proto':
            persons, known = self._prototypes(gts, boxes[0].device)
            person_pids, person_scene = person_pids[known], person_scene[known]
        else:
            persons = self.roi_head.embed_boxes(x, boxes)
        image_ids = [ds.metainfo.get('img_id') for ds in batch_data_samples]
        if any(i is None for i in image_ids):
            image_ids = None
        return self.gfn.loss(persons, person_pids, person_scene,
                             self.scene_embeddings(x, batch_data_samples),
                             pids, image_ids)

    def _prototypes(self, gts, device) -> Tuple[Tensor, Tensor]:
        """'proto' query mode (§3.6): the OIM prototypes (K, D) of the known
        GT persons (OIM ``person_labels`` >= 0) and the (Q,) bool mask of
        those persons; no gradient."""
        if not self.roi_head.reid_head.with_loss or \
                'person_labels' not in gts[0]:
            raise ValueError("GFN query_mode='proto' needs the OIM loss "
                             '(roi_head.reid_head.loss_reid) and '
                             'gt_instances.person_labels')
        labels = torch.cat([
            torch.as_tensor(g.person_labels, device=device).long().view(-1)
            for g in gts
        ])
        known = labels >= 0
        return self.roi_head.prototypes(labels[known]), known

    # ------------------------------------------------------------ scenes
    def scene_embeddings(self, x: Tuple[Tensor],
                         batch_data_samples: Optional[SampleList]) -> Tensor:
        """Unit scene embeddings (B, D) from backbone features (tuple of
        (B, C, H, W)), each image's valid region pooled (decision 11; the
        whole map without data samples)."""
        if not self.with_gfn:
            raise RuntimeError(f'{type(self).__name__} has no GFN (gfn=None)')
        feats = x[0]
        valid = None
        if batch_data_samples:
            metas = [ds.metainfo for ds in batch_data_samples]
            valid = valid_feature_sizes([m['img_shape'][:2] for m in metas],
                                        metas[0].get('batch_input_shape',
                                                     feats.shape[-2:]),
                                        feats.shape[-2:])
        return self.gfn.scene_embeddings(feats, valid)

    def scene_embedding(
            self,
            batch_inputs: Tensor,
            batch_data_samples: Optional[SampleList] = None) -> Tensor:
        """Images (B, 3, H, W) -> scene embeddings (B, D), backbone + GFN
        only (no RPN / RoI head): the GFN score is known before detection."""
        return self.scene_embeddings(self.extract_feat(batch_inputs),
                                     batch_data_samples)

    # ----------------------------------------------------------- predict
    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Images (B, 3, H, W) -> data samples with ``pred_instances`` (and
        the GFN fields, see the class docstring)."""
        x = self.extract_feat(batch_inputs)
        samples = self.predict_from_feats(x, batch_data_samples, rescale)
        if self.with_gfn:
            self.add_gfn_fields(samples,
                                self.scene_embeddings(x, batch_data_samples))
        return samples

    def predict_from_feats(self, x: Tuple[Tensor],
                           batch_data_samples: SampleList,
                           rescale: bool = True) -> SampleList:
        """Backbone features -> data samples with ``pred_instances``
        (proposals of gallery images, then the RoI head)."""
        rpn_results_list = self.predict_proposals(x, batch_data_samples)
        results_list = self.roi_head.predict(
            x, rpn_results_list, batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def predict_proposals(self, x: Tuple[Tensor],
                          batch_data_samples: SampleList) -> InstanceList:
        """RPN proposals of the gallery images; no box for query images
        (metainfo ``is_query``: the RoI head returns the query box)."""
        gallery = [
            i for i, ds in enumerate(batch_data_samples)
            if not is_query_sample(ds)
        ]
        results = [empty_boxes(x[0]) for _ in batch_data_samples]
        if gallery:
            feats = tuple(feat[gallery] for feat in x)
            samples = [batch_data_samples[i] for i in gallery]
            proposals = self.rpn_head.predict(feats, samples, rescale=False)
            for i, res in zip(gallery, proposals):
                results[i] = res
        return results

    def add_gfn_fields(self, samples: SampleList, scenes: Tensor) -> None:
        """``scene_embedding`` (D,) on every sample, ``gfn_query`` on the
        query samples (from their first embedding)."""
        for ds, scene in zip(samples, scenes):
            ds.scene_embedding = scene
            if is_query_sample(ds) and len(ds.pred_instances):
                ds.gfn_query = self.gfn.query_code(
                    ds.pred_instances.embeddings[:1], scene[None])[0]


def _person_ids(gt_instances, device) -> Tensor:
    """Person ids (N,), -1 unknown: ``person_ids``, else the OIM
    ``person_labels``."""
    key = 'person_ids' if 'person_ids' in gt_instances else 'person_labels'
    return torch.as_tensor(gt_instances.get(key),
                           device=device).long().view(-1)
