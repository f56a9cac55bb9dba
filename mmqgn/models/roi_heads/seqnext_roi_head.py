"""Sequential two-stage RoI head of SeqNeXt (gfn_seqnext.md §2.4-2.6).

Stage 1 ("proposal" head, RCNN1): RoIAlign on F4 -> conv5 head copy #1 ->
Fast R-CNN predictor (2-class softmax, class-specific regression). Its
decoded, clipped and **detached** boxes are the RoIs of stage 2 (RCNN2):
conv5 head copy #2 -> a Faster R-CNN predictor with one sigmoid logit and
class-agnostic regression, and the embedding head (OIM). The second-stage
score is the detection score and weights the embeddings at test (CWS).
Sequential stages as mmdet's ``CascadeRoIHead`` (``regress_by_class``).
"""
import copy
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.layers import multiclass_nms
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from mmengine.structures import InstanceData
from torch import Tensor

from mmqgn.registry import MODELS
from .person_search_roi_head import PersonSearchRoIHead


@MODELS.register_module()
class PersonBCELoss(nn.Module):
    """One-logit person/background BCE for mmdet's ``BBoxHead`` (RCNN2).

    mmdet's ``BBoxHead`` always predicts ``num_classes + 1`` softmax logits;
    this loss plugs in through its custom-class hooks (as ``SeesawLoss``)
    so that ``fc_cls`` has one output: ``cls_score`` (N, 1), target 1 for
    the person class (label 0), 0 for background (label 1). Mean over the
    sampled RoIs (``avg_factor``), as torchvision's
    ``binary_cross_entropy_with_logits``. ``get_activation`` returns
    (N, 2) ``[sigmoid, 1 - sigmoid]`` so mmdet's post-processing applies.

    Args:
        loss_weight (float): Defaults to 1.0.
    """

    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    @staticmethod
    def get_cls_channels(num_classes: int) -> int:
        """One logit: the detector has a single (person) class."""
        assert num_classes == 1, 'PersonBCELoss is for one class only'
        return 1

    @staticmethod
    def get_activation(cls_score: Tensor) -> Tensor:
        """(N, 1) logits -> (N, 2) [person, background] probabilities."""
        person = cls_score.sigmoid()
        return torch.cat([person, 1 - person], dim=-1)

    @staticmethod
    def get_accuracy(cls_score: Tensor, labels: Tensor) -> dict:
        """Binary accuracy (%) of the sampled RoIs."""
        hit = (cls_score[:, 0] > 0) == (labels == 0)
        return dict(acc=hit.float().mean() * 100)

    def forward(self,
                cls_score: Tensor,
                labels: Tensor,
                label_weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """(N, 1) logits, (N,) labels (0 person, 1 background) -> loss."""
        target = (labels == 0).to(cls_score.dtype)
        loss = F.binary_cross_entropy_with_logits(
            cls_score[:, 0], target, reduction='none')
        if label_weights is not None:
            loss = loss * label_weights
        if reduction_override == 'none':
            return self.loss_weight * loss
        denom = avg_factor if avg_factor is not None else max(len(loss), 1)
        return self.loss_weight * loss.sum() / denom


@MODELS.register_module()
class SeqNeXtRoIHead(PersonSearchRoIHead):
    """Two sequential Faster R-CNN stages; stage 2 also embeds (OIM).

    Training: proposals are sampled (``train_cfg.assigner/sampler``, GT
    appended) for stage 1, whose losses are ``loss_prop_cls``,
    ``loss_prop_bbox`` (weight 10 in the configs) and ``prop_acc``. The
    stage-1 boxes, decoded onto the sampled RoIs (all of them, GT included),
    clipped and detached, are re-sampled with the same rule for stage 2:
    ``loss_cls``, ``loss_bbox``, ``acc`` and ``loss_oim``
    (:class:`PersonSearchRoIHead`).

    Test (per gallery image): stage-1 person probability >
    ``test_cfg.prop.score_thr``, NMS (0.4), top ``max_per_img`` (300); stage
    2 on those boxes, its deltas decoded onto them, score >
    ``test_cfg.score_thr`` (0.5), NMS (0.5), top 300. ``pred_instances``:
    bboxes (N, 4), stage-2 scores (N,), labels (N,) and the stage-2
    embeddings (N, D) of the kept boxes' RoIs (the stage-1 boxes, as the
    reference), times the score when ``test_cfg.cws``. Query images: the
    query box and its (unweighted) embedding, as the parent.

    Args:
        shared_head (dict): conv5 head copy #2 (stage 2 and re-id).
        prop_bbox_head (dict): the stage-1 ``BBoxHead``.
        prop_shared_head (dict, optional): conv5 head copy #1; a copy of
            ``shared_head``'s config (separate weights) when None.
        **kwargs: ``bbox_roi_extractor``, ``bbox_head`` (stage 2),
            ``reid_head``, ``train_cfg``, ``test_cfg``, ``init_cfg`` as
            :class:`PersonSearchRoIHead`.
    """

    def __init__(self,
                 shared_head: ConfigType,
                 prop_bbox_head: ConfigType,
                 prop_shared_head: OptConfigType = None,
                 **kwargs) -> None:
        super().__init__(shared_head=shared_head, **kwargs)
        if prop_shared_head is None:
            prop_shared_head = copy.deepcopy(shared_head)
        self.prop_shared_head = MODELS.build(prop_shared_head)
        self.prop_bbox_head: BBoxHead = MODELS.build(prop_bbox_head)

    # ------------------------------------------------------------- stage 1
    def _prop_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """Stage-1 ``cls_score`` (R, 2) and ``bbox_pred`` (R, 4) of rois
        (R, 5)."""
        roi_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs], rois)
        cls_score, bbox_pred = self.prop_bbox_head(
            self.prop_shared_head(roi_feats))
        return dict(cls_score=cls_score, bbox_pred=bbox_pred)

    def prop_loss(self, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult]) -> dict:
        """Stage-1 losses (``*_prop_*`` keys) and raw outputs."""
        rois = bbox2roi([res.priors for res in sampling_results])
        results = self._prop_forward(x, rois)
        targets = self.prop_bbox_head.loss_and_target(
            cls_score=results['cls_score'],
            bbox_pred=results['bbox_pred'],
            rois=rois,
            sampling_results=sampling_results,
            rcnn_train_cfg=self.train_cfg)
        results['losses'] = {
            (k.replace('loss_', 'loss_prop_', 1)
             if k.startswith('loss_') else f'prop_{k}'): v
            for k, v in targets['loss_bbox'].items()
        }
        return results

    def refine_proposals(self, sampling_results: List[SamplingResult],
                         bbox_pred: Tensor,
                         batch_img_metas: List[dict]) -> InstanceList:
        """Stage-1 boxes of every sampled RoI, clipped and detached: the
        stage-2 proposals (one InstanceData with ``bboxes`` per image)."""
        priors = [res.priors for res in sampling_results]
        boxes = self.decode_person_boxes(self.prop_bbox_head, priors,
                                         bbox_pred, batch_img_metas)
        return [InstanceData(bboxes=b.detach()) for b in boxes]

    # ---------------------------------------------------------------- loss
    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """Stage-1 losses, then the stage-2 detection and OIM losses on the
        re-sampled, detached stage-1 boxes."""
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = \
            unpack_gt_instances(batch_data_samples)
        sampling_results = self.sample_proposals(x, rpn_results_list,
                                        batch_gt_instances,
                                        batch_gt_instances_ignore)
        prop = self.prop_loss(x, sampling_results)
        refined = self.refine_proposals(sampling_results, prop['bbox_pred'],
                                        batch_img_metas)
        losses = prop['losses']
        losses.update(super().loss(x, refined, batch_data_samples))
        return losses

    # ------------------------------------------------------------- predict
    def predict_bbox(self,
                     x: Tuple[Tensor],
                     batch_img_metas: List[dict],
                     rpn_results_list: InstanceList,
                     rcnn_test_cfg: ConfigType,
                     rescale: bool = False) -> InstanceList:
        """Both stages; results in resized-image pixels with stage-2
        ``scores`` and unit-norm ``embeddings`` (N, D)."""
        assert not rescale, 'boxes are rescaled in predict()'
        proposals = [res.bboxes for res in rpn_results_list]
        stage1 = self._predict_stage(
            proposals, batch_img_metas, self.prop_bbox_head,
            lambda rois: self._prop_forward(x, rois), rcnn_test_cfg.prop)
        boxes1 = [res.bboxes for res in stage1]
        return self._predict_stage(boxes1, batch_img_metas, self.bbox_head,
                                   lambda rois: self._stage2_forward(x, rois),
                                   rcnn_test_cfg)

    def _stage2_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """Stage-2 outputs plus the embeddings (R, D) of ``rois``."""
        results = self._bbox_forward(x, rois)
        results['embeddings'] = self.reid_head(results['roi_feats'],
                                               results['bbox_feats'])
        return results

    def _predict_stage(self, proposals: List[Tensor],
                       batch_img_metas: List[dict], bbox_head: BBoxHead,
                       forward, cfg: ConfigType) -> InstanceList:
        """Run ``forward`` on ``proposals`` (list of (n_i, 4)); decode onto
        them (:meth:`raw_detections`), drop boxes narrower or lower than
        ``cfg.min_bbox_size``, then mmdet's ``multiclass_nms`` (score >
        ``score_thr``, ``nms``, best ``max_per_img``). Per-RoI
        ``embeddings`` follow the kept boxes (``return_inds``)."""
        if sum(len(p) for p in proposals) == 0:
            return [self._empty_result(p) for p in proposals]
        out = []
        for raw in self.raw_detections(proposals, batch_img_metas, bbox_head,
                                       forward):
            wh = raw.bboxes[:, 2:] - raw.bboxes[:, :2]
            big = (wh.min(dim=1).values >= cfg.get('min_bbox_size', 0)
                   ).nonzero(as_tuple=True)[0]
            dets, labels, inds = multiclass_nms(
                raw.bboxes[big], raw.scores[big], cfg.score_thr, cfg.nms,
                cfg.max_per_img, return_inds=True)
            res = InstanceData(bboxes=dets[:, :4], scores=dets[:, 4],
                               labels=labels)
            if 'embeddings' in raw:
                res.embeddings = raw.embeddings[big[inds]]
            out.append(res)
        return out

    def predict_reid(self, x: Tuple[Tensor],
                     results_list: InstanceList) -> InstanceList:
        """Embed the results that lack ``embeddings`` (query boxes), each
        on its own image's features."""
        todo = ['embeddings' not in res for res in results_list]
        if any(todo):
            boxes = [res.bboxes if t else res.bboxes[:0]
                     for res, t in zip(results_list, todo)]
            embeddings = self.embed_boxes(x, boxes).split(
                [len(b) for b in boxes])
            for res, t, emb in zip(results_list, todo, embeddings):
                if t:
                    res.embeddings = emb
        return results_list

    # ------------------------------------------------------------- helpers
    def _empty_result(self, like: Tensor) -> InstanceData:
        """No detection: bboxes (0, 4), scores, labels, embeddings (0, D)."""
        return InstanceData(
            bboxes=like.new_zeros((0, 4)),
            scores=like.new_zeros((0, )),
            labels=like.new_zeros((0, ), dtype=torch.long),
            embeddings=like.new_zeros((0, self.reid_head.embed_dim)))
