"""QRPN: Query-guided Region Proposal Network (qgn_qeeps.md §4, D3-D5, T7-T8).

The RoI-pooled query crop P_q (B, C, P, P) is flattened (B, C*P*P) ->
FC1 -> C/r -> ReLU -> FC2 -> C -> sigmoid = w (B, C); the gallery map is
re-weighted channel-wise, w * F_g (B, C, H, W), and scored by RPN*: a 3x3 conv
(C -> feat_channels) + ReLU + 1x1 conv (-> A anchors), with no regression
branch. Output: query-similarity logits (B, A, H, W) per level.

Pooled size P = 7 (default ``roi_layer.output_size``): QGN Table 8 (ResNet-18,
C = 256) gives 15.3 M at r = 2 and 13.9 M at r = 16. The FC weights are
C^2 (P^2 + 1) / r, so the difference is 65536 (P^2 + 1)(1/2 - 1/16) =
28672 (P^2 + 1): P = 7 -> 1.43 M (1.4 as in the table), P = 6 -> 1.06 M,
P = 8 -> 1.86 M. The QRPN RoI layer is its own mmcv op, default RoIAlign
(mmcv has no CPU RoIPool kernel); set ``roi_layer.type='RoIPool'`` on GPU.
"""
from typing import List, Optional, Sequence, Tuple

import mmcv.ops
import torch
import torch.nn as nn
from mmdet.models.dense_heads import AnchorHead
from mmdet.models.task_modules.assigners import AssignResult, BaseAssigner
from mmdet.structures.bbox import bbox2roi, bbox_overlaps
from mmengine.structures import InstanceData
from torch import Tensor

from mmqgn.registry import MODELS, TASK_UTILS


def fuse_rpn_scores(rpn_scores: Sequence[Tensor],
                    qrpn_scores: Sequence[Tensor],
                    eps: float = 1e-6) -> List[Tensor]:
    """Fuse RPN objectness and QRPN logits (QEEPS §4.2, decision D4).

    The paper sums probabilities, sigmoid(a) + sigmoid(b) in [0, 2]. This
    returns, per level, the logit of their mean: any sigmoid-based mmdet
    proposal code (e.g. ``RPNHead.predict_by_feat(fused, rpn_bbox_preds,
    ...)``) then ranks, top-k's and NMS's on the sum (same order) and decodes
    boxes with the standard RPN deltas. Proposal scores are sum / 2.
    """
    return [
        torch.logit((a.sigmoid() + b.sigmoid()) / 2, eps=eps)
        for a, b in zip(rpn_scores, qrpn_scores)
    ]


def jitter_boxes(boxes: Tensor,
                 num: int = 4,
                 shift: float = 0.1,
                 scale: float = 0.1,
                 min_iou: float = 0.7) -> Tensor:
    """Random copies of (K, 4) boxes (decision T7) -> (<= K * num, 4).

    Centre moved by U(-shift, shift) * (w, h), w and h scaled by
    U(1 - scale, 1 + scale); copies with IoU < min_iou to their box are
    dropped.
    """
    if num == 0 or boxes.numel() == 0:
        return boxes.new_zeros((0, 4))
    src = boxes.repeat_interleave(num, dim=0)
    wh = src[:, 2:] - src[:, :2]
    ctr = (src[:, 2:] + src[:, :2]) / 2
    ctr = ctr + (torch.rand_like(ctr) * 2 - 1) * shift * wh
    wh = wh * (1 + (torch.rand_like(wh) * 2 - 1) * scale)
    out = torch.cat([ctr - wh / 2, ctr + wh / 2], dim=1)
    keep = bbox_overlaps(out, src, is_aligned=True) >= min_iou
    return out[keep]


@TASK_UTILS.register_module()
class QRPNAssigner(BaseAssigner):
    """QRPN anchor labels (QGN "QRPN Anchor Sampling", decision T8).

    ``gt_instances``: the target person's box(es) (incl. jittered copies);
    ``gt_instances_ignore``: every person box of the gallery image.
    Positive: IoU >= pos_iou_thr with a target (plus, optionally, each
    target's best anchors). Negative: IoU < neg_iou_thr with EVERY target and
    person box. Everything else (e.g. anchors on other people) is ignored.
    """

    def __init__(self,
                 pos_iou_thr: float = 0.6,
                 neg_iou_thr: float = 0.3,
                 min_pos_iou: float = 0.0,
                 match_low_quality: bool = True) -> None:
        self.pos_iou_thr = pos_iou_thr
        self.neg_iou_thr = neg_iou_thr
        self.min_pos_iou = min_pos_iou
        self.match_low_quality = match_low_quality

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None,
               **kwargs) -> AssignResult:
        priors, targets = pred_instances.priors, gt_instances.bboxes
        persons = targets
        if gt_instances_ignore is not None:
            persons = torch.cat([targets, gt_instances_ignore.bboxes])
        gt_inds = priors.new_full((len(priors), ), -1, dtype=torch.long)
        gt_inds[self._max_iou(persons, priors)[0] < self.neg_iou_thr] = 0
        overlaps = bbox_overlaps(targets, priors)  # (T, N)
        max_iou, argmax = self._max_iou(targets, priors, overlaps)
        pos = max_iou >= self.pos_iou_thr
        gt_inds[pos] = argmax[pos] + 1
        if self.match_low_quality and len(targets) and len(priors):
            best = overlaps.max(dim=1, keepdim=True).values
            best_mask = (overlaps == best) & (best >= self.min_pos_iou)
            for i in range(len(targets)):
                gt_inds[best_mask[i]] = i + 1
        labels = gt_inds.new_full((len(priors), ), -1)
        assigned = gt_inds > 0
        labels[assigned] = gt_instances.labels[gt_inds[assigned] - 1]
        return AssignResult(len(targets), gt_inds, max_iou, labels)

    @staticmethod
    def _max_iou(boxes: Tensor,
                 priors: Tensor,
                 overlaps: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Max IoU (and argmax) of each prior over boxes; 0 if no boxes."""
        if len(boxes) == 0:
            zeros = priors.new_zeros(len(priors))
            return zeros, zeros.long()
        if overlaps is None:
            overlaps = bbox_overlaps(boxes, priors)
        return overlaps.max(dim=0)


@MODELS.register_module()
class QRPNHead(AnchorHead):
    """Query-guided RPN* head (see the module docstring for shapes).

    ``forward(gallery_feats, query_feats, query_bboxes)``: per-level gallery
    maps (B, C, H, W), per-level query maps (the first, stride
    ``1 / roi_layer.spatial_scale``, is pooled) and B boxes (1, 4) in query
    image coordinates (one query per pair) -> tuple of (B, A, H, W) logits.

    Args:
        in_channels (int): C (1024 for ResNet-50 C4, 256 for ResNet-18).
        feat_channels (int): RPN* conv width (512 per qgn_qeeps.md §13).
        reduction_ratio (int): r; FC1 outputs C // r. Defaults to 16.
        roi_layer (dict): mmcv RoI op for the query crop; default
            RoIAlign 7x7 (P = 7, see module docstring) at stride 16.
        anchor_generator (dict): the RPN's 15 pedestrian anchors (§2.1).
        loss_cls, train_cfg: as ``AnchorHead`` (sigmoid BCE, decision D5).
            ``train_cfg``: ``assigner`` (default ``QRPNAssigner``),
            ``sampler`` (RandomSampler, 128 anchors, pos fraction 0.5),
            ``allowed_border``, ``pos_weight`` and ``jitter`` (kwargs of
            :func:`jitter_boxes`).
    """

    def __init__(self,
                 in_channels: int,
                 feat_channels: int = 512,
                 reduction_ratio: int = 16,
                 roi_layer: dict = dict(
                     type='RoIAlign',
                     output_size=7,
                     spatial_scale=1 / 16,
                     sampling_ratio=2),
                 anchor_generator: dict = dict(
                     type='AnchorGenerator',
                     scales=[2, 4, 8, 16, 32],
                     ratios=[1.0, 2.0, 3.0],
                     strides=[16]),
                 train_cfg: Optional[dict] = None,
                 init_cfg: dict = dict(
                     type='Normal', layer=['Conv2d', 'Linear'], std=0.01),
                 **kwargs) -> None:
        self.reduction_ratio = reduction_ratio
        self.roi_layer_cfg = dict(roi_layer)
        super().__init__(
            num_classes=1,
            in_channels=in_channels,
            feat_channels=feat_channels,
            anchor_generator=anchor_generator,
            init_cfg=init_cfg,
            **kwargs)
        self.train_cfg = train_cfg
        if train_cfg:
            self.assigner = TASK_UTILS.build(train_cfg['assigner'])
            self.sampler = TASK_UTILS.build(
                train_cfg['sampler'], default_args=dict(context=self))

    def _init_layers(self) -> None:
        cfg = dict(self.roi_layer_cfg)
        self.roi_layer = getattr(mmcv.ops, cfg.pop('type'))(**cfg)
        size = self.roi_layer.output_size
        pooled = self.in_channels * size[0] * size[1]
        hidden = self.in_channels // self.reduction_ratio
        self.fc1 = nn.Linear(pooled, hidden)
        self.fc2 = nn.Linear(hidden, self.in_channels)
        self.rpn_conv = nn.Conv2d(
            self.in_channels, self.feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(self.feat_channels,
                                 self.num_base_priors * self.cls_out_channels,
                                 1)

    def query_attention(self, query_feat: Tensor,
                        query_bboxes: Sequence[Tensor]) -> Tensor:
        """(B, C, Hq, Wq) query map, B boxes (1, 4) -> w (B, C) in (0, 1)."""
        rois = bbox2roi(list(query_bboxes))
        assert len(rois) == len(query_feat), 'one query box per pair'
        pooled = self.roi_layer(query_feat, rois).flatten(1)
        return self.fc2(self.fc1(pooled).relu()).sigmoid()

    def forward(self, gallery_feats: Sequence[Tensor],
                query_feats: Sequence[Tensor],
                query_bboxes: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """See the class docstring."""
        w = self.query_attention(query_feats[0], query_bboxes)
        return tuple(
            self.forward_single(x * w[:, :, None, None])
            for x in gallery_feats)

    def forward_single(self, x: Tensor) -> Tensor:
        """Re-weighted gallery map (B, C, H, W) -> logits (B, A, H, W)."""
        return self.rpn_cls(self.rpn_conv(x).relu())

    def loss(self, gallery_feats: Sequence[Tensor],
             query_feats: Sequence[Tensor], query_bboxes: Sequence[Tensor],
             batch_target_instances: List[InstanceData],
             batch_gt_instances: List[InstanceData],
             batch_img_metas: List[dict]) -> dict:
        """Forward + :meth:`loss_by_feat`."""
        scores = self(gallery_feats, query_feats, query_bboxes)
        return self.loss_by_feat(scores, batch_target_instances,
                                 batch_gt_instances, batch_img_metas)

    def loss_by_feat(self, cls_scores: Sequence[Tensor],
                     batch_target_instances: List[InstanceData],
                     batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict]) -> dict:
        """L_qrpn (QEEPS Eq. 4): BCE over the sampled anchors.

        ``batch_target_instances[i].bboxes``: (1, 4) (or (0, 4)) gallery box
        of the query identity; ``batch_gt_instances[i].bboxes``: all persons.
        """
        labels, weights, avg_factor, _ = self.get_qrpn_targets(
            cls_scores, batch_target_instances, batch_gt_instances,
            batch_img_metas)
        scores = torch.cat([s.permute(0, 2, 3, 1).reshape(len(s), -1)
                            for s in cls_scores], dim=1)
        loss = self.loss_cls(
            scores.reshape(-1, 1),
            labels.reshape(-1),
            weights.reshape(-1),
            avg_factor=max(avg_factor, 1))
        return dict(loss_qrpn=loss)

    def get_qrpn_targets(self, cls_scores: Sequence[Tensor],
                         batch_target_instances: List[InstanceData],
                         batch_gt_instances: List[InstanceData],
                         batch_img_metas: List[dict]) -> tuple:
        """-> labels (B, N) (0 = query person, 1 = background), weights
        (B, N), avg_factor and mmdet ``SamplingResult`` s (inside anchors)."""
        sizes = [s.shape[-2:] for s in cls_scores]
        anchors, valid = self.get_anchors(
            sizes, batch_img_metas, device=cls_scores[0].device)
        targets = [self._with_jitter(t) for t in batch_target_instances]
        persons = [InstanceData(bboxes=g.bboxes) for g in batch_gt_instances]
        labels, weights, _, _, avg_factor, sampling = self.get_targets(
            anchors, valid, targets, batch_img_metas, persons,
            return_sampling_results=True)
        return (torch.cat(labels, 1), torch.cat(weights, 1), avg_factor,
                sampling)

    def _with_jitter(self, target: InstanceData) -> InstanceData:
        boxes = target.bboxes
        boxes = torch.cat(
            [boxes, jitter_boxes(boxes, **self.train_cfg.get('jitter', {}))])
        return InstanceData(
            bboxes=boxes, labels=boxes.new_zeros(len(boxes), dtype=torch.long))
