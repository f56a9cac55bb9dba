"""QGN / QEEPS query-guided person-search detector (qgn_qeeps.md §1, §7, §9.1).

Siamese OIM (Faster R-CNN C4 + ID Net) whose query and gallery branches
interact through QSSE (backbone, :class:`QSSEResNet`), QRPN (proposals,
:class:`QRPNHead`) and QSimNet (final score, :class:`QGNRoIHead`).

Batches are the flattened pair batches of :class:`PairDataPreprocessor`
(``mmqgn/models/data_preprocessors``): inputs (2B, 3, H, W) =
cat([queries, galleries]), 2B data samples, pair b = (b, B + b). The
query-guided interface (:class:`QueryGuidedDetector`) and the optional
Gallery Filter Network on the unguided pass are in
:class:`QGNSearchMixin` (``qgn_search.py``).
"""
from typing import List, Optional, Tuple

import torch
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.structures import InstanceData
from torch import Tensor

from mmqgn.registry import MODELS
from ..dense_heads.qrpn_head import fuse_rpn_scores
from ..data_preprocessors import split_pairs
from .base import PersonSearchDetector
from .qgn_search import QGNSearchMixin
from .query_guided import QueryGuidedDetector


@MODELS.register_module()
@MODELS.register_module('QGNWithGFN')  # before the GFN became an option
class QGN(QGNSearchMixin, PersonSearchDetector, QueryGuidedDetector):
    """Query-guided network for person search (QGN Eq. 7 / QEEPS Eq. 3).

    Input: the flattened pair batch (see module docstring) with
    ``gt_instances`` of each query sample = its query box (1, 4) with
    ``person_labels`` (1,), and of each gallery sample = all its persons.

    ``loss`` (gallery side only, decision T6): ``loss_rpn_cls``,
    ``loss_rpn_bbox``, ``loss_qrpn``, ``loss_cls``, ``loss_bbox``,
    ``loss_oim``, ``loss_sim``, summed unweighted. Proposals: boxes from the
    RPN deltas, top-k and NMS on the RPN + QRPN probability sum (D4).

    ``predict`` -> the B gallery samples with ``pred_instances``: bboxes
    (N, 4) in original pixels, scores (N,) person score, sims (N,) QSimNet
    p_same (cosine without QSimNet), labels, embeddings (N, D); their
    metainfo keeps ``img_id``, ``query_ann_id`` and ``is_query=False`` (the
    pair form read by ``PersonSearchMetric``).

    Args:
        backbone (dict): a :class:`QSSEResNet` (``with_qsse`` switches
            QSSE).
        rpn_head (dict): the standard RPN (objectness + box deltas).
        roi_head (dict): a :class:`QGNRoIHead`.
        qrpn_head (dict): a :class:`QRPNHead`; trained with
            ``train_cfg.qrpn``.
        with_qrpn (bool): use QRPN (else the standard RPN alone, E4).
        with_qsimnet (bool): use ``roi_head.qsimnet`` (else cosine ranking).
        gfn (dict, optional): a :class:`GalleryFilterNetwork` on the
            unguided pass (see :class:`QGNSearchMixin`); None: plain QGN.
        gfn_backbone_grad (bool): ``loss_gfn`` back-propagates into the
            shared backbone through the unguided pass (as the GFN paper
            trains it, §3.2); False runs that pass without gradient.
        train_cfg, test_cfg, data_preprocessor, init_cfg: as
            :class:`mmdet.models.TwoStageDetector` (``train_cfg.rpn``,
            ``rpn_proposal``, ``rcnn``, ``qrpn``; ``test_cfg.rpn``, ``rcnn``).
    """

    def __init__(self,
                 backbone: ConfigType,
                 rpn_head: ConfigType,
                 roi_head: ConfigType,
                 train_cfg: ConfigType,
                 test_cfg: ConfigType,
                 qrpn_head: OptConfigType = None,
                 with_qrpn: bool = True,
                 with_qsimnet: bool = True,
                 gfn: OptConfigType = None,
                 gfn_backbone_grad: bool = True,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptConfigType = None) -> None:
        if not with_qsimnet:
            roi_head = dict(roi_head, qsimnet=None)
        super().__init__(
            backbone=backbone,
            rpn_head=rpn_head,
            roi_head=roi_head,
            train_cfg=train_cfg,
            test_cfg=test_cfg,
            gfn=gfn,
            gfn_backbone_grad=gfn_backbone_grad,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.qrpn_head = None
        if with_qrpn:
            assert qrpn_head is not None, 'with_qrpn needs a qrpn_head'
            qrpn_train = train_cfg.get('qrpn') if train_cfg else None
            self.qrpn_head = MODELS.build(dict(qrpn_head,
                                               train_cfg=qrpn_train))

    @property
    def with_qrpn(self) -> bool:
        return self.qrpn_head is not None

    @property
    def with_qsimnet(self) -> bool:
        return self.roi_head.with_qsimnet

    # ------------------------------------------------------------- forward
    def extract_pair_feat(self, batch_inputs: Tensor
                          ) -> Tuple[Tuple[Tensor], Tuple[Tensor]]:
        """(2B, 3, H, W) -> (query feats, gallery feats), each a tuple of
        (B, C, h, w) (Siamese BaseNet with QSSE)."""
        return split_pair_feats(self.extract_feat(batch_inputs))

    def extract_unguided_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """(N, 3, H, W) plain images -> features without query guidance
        (``QSSEResNet.forward_single``), each image on its own."""
        x = self.backbone.forward_single(batch_inputs)
        return self.neck(x) if self.with_neck else x

    @staticmethod
    def query_bboxes(query_samples: SampleList) -> List[Tensor]:
        """B query samples -> B boxes (1, 4) in input pixels."""
        return [
            get_box_tensor(ds.gt_instances.bboxes)[:1].float()
            for ds in query_samples
        ]

    def rpn_forward(self, x_g: Tuple[Tensor], x_q: Tuple[Tensor],
                    q_boxes: List[Tensor]) -> tuple:
        """-> (RPN logits, RPN deltas, QRPN logits or None), per level."""
        cls_scores, bbox_preds = self.rpn_head(x_g)
        qrpn_scores = self.qrpn_head(x_g, x_q, q_boxes) \
            if self.with_qrpn else None
        return cls_scores, bbox_preds, qrpn_scores

    def proposals(self, rpn_outs: tuple, gallery_samples: SampleList,
                  cfg: ConfigType) -> InstanceList:
        """Decode RPN deltas; rank and NMS on the fused score (D4)."""
        cls_scores, bbox_preds, qrpn_scores = rpn_outs
        if qrpn_scores is not None:
            cls_scores = fuse_rpn_scores(cls_scores, qrpn_scores)
        return self.rpn_head.predict_by_feat(
            cls_scores,
            bbox_preds,
            batch_img_metas=[ds.metainfo for ds in gallery_samples],
            cfg=cfg,
            rescale=False)

    # ---------------------------------------------------------------- loss
    def loss_from_feats(self, x: Tuple[Tensor],
                        batch_data_samples: SampleList) -> dict:
        """Features of the flattened pair batch -> dict of the seven QGN
        losses (Eq. 7)."""
        queries, galleries = split_pairs(batch_data_samples)
        x_q, x_g = split_pair_feats(x)
        q_boxes = self.query_bboxes(queries)
        q_labels = torch.cat([
            torch.as_tensor(ds.gt_instances.person_labels[:1]).long()
            for ds in queries
        ])
        gts = [ds.gt_instances for ds in galleries]
        metas = [ds.metainfo for ds in galleries]
        rpn_outs = self.rpn_forward(x_g, x_q, q_boxes)
        losses = self.rpn_head.loss_by_feat(rpn_outs[0], rpn_outs[1], gts,
                                            metas)
        if self.with_qrpn:
            targets = [
                self.target_instances(gt, q)
                for gt, q in zip(gts, q_labels.tolist())
            ]
            losses.update(
                self.qrpn_head.loss_by_feat(rpn_outs[2], targets, gts,
                                            metas))
        proposal_cfg = self.train_cfg.get('rpn_proposal', self.test_cfg.rpn)
        proposals = self.proposals(rpn_outs, galleries, proposal_cfg)
        losses.update(
            self.roi_head.loss(x_g, proposals, galleries, x_q, q_boxes,
                               q_labels.to(x_g[0].device)))
        return losses

    @staticmethod
    def target_instances(gt_instances: InstanceData,
                         person_label: int) -> InstanceData:
        """The gallery boxes (T, 4) of the query identity (QRPN targets)."""
        bboxes = get_box_tensor(gt_instances.bboxes)
        labels = torch.as_tensor(gt_instances.person_labels,
                                 device=bboxes.device)
        return InstanceData(bboxes=bboxes[labels == person_label])

    # ------------------------------------------------------------- predict
    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Flattened pair batch -> the B gallery samples with
        ``pred_instances`` (see the class docstring)."""
        queries, galleries = split_pairs(batch_data_samples)
        x_q, x_g = self.extract_pair_feat(batch_inputs)
        return self.predict_pair_feats(x_q, x_g, queries, galleries, rescale)

    def predict_pair_feats(self,
                           x_q: Tuple[Tensor],
                           x_g: Tuple[Tensor],
                           queries: SampleList,
                           galleries: SampleList,
                           rescale: bool = True) -> SampleList:
        """B pairs of BaseNet features (tuples of (B, C, h, w)) and their
        data samples -> the B gallery samples with ``pred_instances``."""
        q_boxes = self.query_bboxes(queries)
        rpn_outs = self.rpn_forward(x_g, x_q, q_boxes)
        proposals = self.proposals(rpn_outs, galleries, self.test_cfg.rpn)
        results_list = self.roi_head.predict(
            x_g, proposals, galleries, x_q, q_boxes, rescale=rescale)
        return self.add_pred_to_datasample(galleries, results_list)

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: Optional[SampleList] = None) -> tuple:
        """Tensor mode: (RPN logits, RPN deltas, QRPN logits or None)."""
        queries, _ = split_pairs(batch_data_samples)
        x_q, x_g = self.extract_pair_feat(batch_inputs)
        return self.rpn_forward(x_g, x_q, self.query_bboxes(queries))


def split_pair_feats(x: Tuple[Tensor]) -> Tuple[Tuple[Tensor], Tuple[Tensor]]:
    """Features of a flattened pair batch, tuple of (2B, C, h, w) -> (query
    feats, gallery feats), each a tuple of (B, C, h, w)."""
    pairs = [split_pairs(feat) for feat in x]
    return tuple(q for q, _ in pairs), tuple(g for _, g in pairs)
