"""RoI head of the OIM person-search detector (qgn_qeeps.md §2).

RoIAlign on res4 -> conv5 shared head -> (person score, box deltas) from an
mmdet ``BBoxHead`` and an L2-normalised embedding from a re-id head trained
with OIM on the foreground sampled RoIs.
"""
from typing import Callable, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor, scale_boxes
from mmdet.utils import ConfigType, InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from mmqgn.registry import MODELS
from ..utils import empty_boxes, is_query_sample


@MODELS.register_module()
class PersonSearchRoIHead(StandardRoIHead):
    """StandardRoIHead plus an identity branch and a query test mode.

    Training adds ``loss_oim`` to mmdet's ``loss_cls`` / ``loss_bbox``: the
    re-id head embeds every sampled RoI (B * num_rois, D) and its loss sees
    the foreground ones, labelled with ``gt_instances.person_labels`` of the
    assigned ground truth (-1 = unlabeled person).

    Test: a gallery image gives its detections (NMS as mmdet) and the
    embedding of every final box (re-pooled from res4); a query image
    (metainfo ``is_query``) gives its ground-truth box with score 1 and that
    box's embedding. ``pred_instances``: bboxes (N, 4), scores (N,),
    labels (N,), embeddings (N, D). ``test_cfg.cws=True`` multiplies gallery
    embeddings by the detection score (confidence-weighted similarity).

    Args:
        reid_head (dict): config of the identity branch, e.g.
            ``PersonEmbeddingHead`` with an ``OIMLoss``.
        **kwargs: the arguments of :class:`StandardRoIHead` (a
            ``shared_head`` that maps RoI features to the box-head input).
    """

    def __init__(self, reid_head: ConfigType, **kwargs) -> None:
        super().__init__(**kwargs)
        self.reid_head = MODELS.build(reid_head)

    # ------------------------------------------------------------- forward
    def _roi_feats(self, x: Tuple[Tensor], rois: Tensor) -> tuple:
        """RoI features (R, C4, S, S) and conv5 features of ``rois``."""
        roi_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs], rois)
        bbox_feats = self.shared_head(roi_feats) \
            if self.with_shared_head else roi_feats
        return roi_feats, bbox_feats

    def _bbox_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """mmdet's box forward; also returns ``roi_feats`` (res4)."""
        roi_feats, bbox_feats = self._roi_feats(x, rois)
        cls_score, bbox_pred = self.bbox_head(bbox_feats)
        return dict(cls_score=cls_score, bbox_pred=bbox_pred,
                    bbox_feats=bbox_feats, roi_feats=roi_feats)

    def embed_rois(self, x: Tuple[Tensor], rois: Tensor) -> Tensor:
        """Embeddings (R, D) of ``rois`` (R, 5) (batch index, x1y1x2y2 in
        input pixels) on the feature maps ``x``; with gradient."""
        if rois.size(0) == 0:
            return rois.new_zeros((0, self.reid_head.embed_dim))
        return self.reid_head(*self._roi_feats(x, rois))

    def embed_boxes(self, x: Tuple[Tensor],
                    boxes: Sequence[Tensor]) -> Tensor:
        """Embeddings (sum N_i, D) of per-image boxes (N_i, 4) (input
        pixels) on the feature maps ``x`` (tuple of (B, C, H, W))."""
        return self.embed_rois(x, bbox2roi(list(boxes)))

    def prototypes(self, labels: Tensor) -> Tensor:
        """The re-id loss's prototypes (N, D) of OIM ``labels`` (N,)
        (detached copies; see :meth:`OIMLoss.prototypes`)."""
        return self.reid_head.prototypes(labels)

    # ---------------------------------------------------------------- loss
    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """Detection losses (mmdet) plus ``loss_oim``."""
        return self.detection_reid_loss(x, rpn_results_list,
                                        batch_data_samples)[0]

    def detection_reid_loss(self, x: Tuple[Tensor],
                            rpn_results_list: InstanceList,
                            batch_data_samples: SampleList) -> tuple:
        """Detection and OIM losses, plus what query-guided heads reuse:
        the sampling results, the GT instances and the embeddings (R, D) of
        all sampled RoIs.

        The steps of mmdet's ``StandardRoIHead.loss`` (``sample_proposals``,
        ``bbox_loss``) with the re-id branch on the sampled RoIs' features
        (``reid_head.loss_and_embed``: the head sees the per-RoI maps and
        the foreground mask, e.g. for the PGS guidance loss).
        """
        assert len(rpn_results_list) == len(batch_data_samples)
        batch_gt_instances, batch_gt_instances_ignore, _ = \
            unpack_gt_instances(batch_data_samples)
        sampling_results = self.sample_proposals(x, rpn_results_list,
                                                 batch_gt_instances,
                                                 batch_gt_instances_ignore)
        bbox_results = self.bbox_loss(x, sampling_results)
        losses = dict(bbox_results['loss_bbox'])
        is_pos, labels = self.reid_targets(sampling_results,
                                           batch_gt_instances)
        reid_losses, embeddings = self.reid_head.loss_and_embed(
            bbox_results['roi_feats'], bbox_results['bbox_feats'], is_pos,
            labels)
        losses.update(reid_losses)
        return losses, sampling_results, batch_gt_instances, embeddings

    def sample_proposals(self, x: Tuple[Tensor],
                         rpn_results_list: InstanceList,
                         batch_gt_instances: InstanceList,
                         batch_gt_instances_ignore: InstanceList
                         ) -> List[SamplingResult]:
        """Assign and sample proposals per image (``train_cfg.assigner`` /
        ``sampler``); renames each ``rpn_results.bboxes`` to ``priors``.

        This is the first step of mmdet's ``StandardRoIHead.loss``, which
        mmdet writes inline (no method to call); every person-search head
        (OIM, both SeqNeXt stages, QGN) samples through this one copy.
        """
        sampling_results = []
        for i, rpn_results in enumerate(rpn_results_list):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(
                rpn_results, batch_gt_instances[i],
                batch_gt_instances_ignore[i])
            sampling_results.append(
                self.bbox_sampler.sample(
                    assign_result,
                    rpn_results,
                    batch_gt_instances[i],
                    feats=[lvl_feat[i][None] for lvl_feat in x]))
        return sampling_results

    @staticmethod
    def reid_targets(sampling_results: List[SamplingResult],
                     batch_gt_instances: InstanceList) -> tuple:
        """Foreground mask over the sampled RoIs (R,) and the person labels
        (num_pos,) of the assigned ground truths."""
        is_pos, labels = [], []
        for res, gts in zip(sampling_results, batch_gt_instances):
            if 'person_labels' not in gts:
                raise KeyError('gt_instances lack "person_labels": use '
                               'LoadPersonSearchAnnotations and '
                               'PackPersonSearchInputs in the pipeline')
            num_pos, num_neg = len(res.pos_priors), len(res.neg_priors)
            is_pos.append(res.pos_priors.new_zeros(num_pos + num_neg,
                                                   dtype=torch.bool))
            is_pos[-1][:num_pos] = True
            person_labels = torch.as_tensor(
                gts.person_labels, device=res.pos_priors.device)
            labels.append(person_labels[res.pos_assigned_gt_inds].long())
        return torch.cat(is_pos), torch.cat(labels)

    # ------------------------------------------------------------- predict
    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        """Detections + embeddings (gallery) or GT box + embedding (query)
        per image; boxes in original pixels when ``rescale``."""
        batch_img_metas = [ds.metainfo for ds in batch_data_samples]
        queries = [is_query_sample(ds) for ds in batch_data_samples]
        proposals = [
            empty_boxes(x[0]) if q else res
            for q, res in zip(queries, rpn_results_list)
        ]
        results_list = self.predict_bbox(
            x, batch_img_metas, proposals, self.test_cfg, rescale=False)
        results_list = [
            self._query_instances(ds) if q else res
            for q, ds, res in zip(queries, batch_data_samples, results_list)
        ]
        results_list = self.predict_reid(x, results_list)
        if self.test_cfg.get('cws', False):
            for q, res in zip(queries, results_list):
                if not q:
                    res.embeddings = res.embeddings * res.scores[:, None]
        if rescale:
            for res, meta in zip(results_list, batch_img_metas):
                res.bboxes = scale_boxes(
                    res.bboxes, [1 / s for s in meta['scale_factor']])
        return results_list

    def predict_reid(self, x: Tuple[Tensor],
                     results_list: InstanceList) -> InstanceList:
        """Add ``embeddings`` (N_i, D) for the boxes (resized-image pixels)
        of every result."""
        rois = bbox2roi([res.bboxes for res in results_list])
        embeddings = self.embed_rois(x, rois)
        embeddings = embeddings.split([len(r) for r in results_list])
        for res, emb in zip(results_list, embeddings):
            res.embeddings = emb
        return results_list

    def raw_detections(self, proposals: Sequence[Tensor],
                       batch_img_metas: List[dict], bbox_head: BBoxHead,
                       forward: Callable[[Tensor], dict]) -> InstanceList:
        """Detections of one box stage before thresholds and NMS.

        ``forward`` maps rois (R, 5) to ``cls_score``, ``bbox_pred`` and,
        optionally, ``embeddings`` (R, D). Per image (proposals (n_i, 4),
        input pixels): ``bboxes`` (n_i, 4), the person-class (label 0)
        deltas decoded onto the proposals and clipped
        (``bbox_head.regress_by_class``); ``scores`` (n_i, C + 1), the class
        probabilities of mmdet's ``BBoxHead.predict_by_feat`` (the loss's
        activation with ``custom_cls_channels``, else softmax; background
        last); ``embeddings`` when ``forward`` gives them. This is what
        mmdet's ``predict_bbox`` returns with ``rcnn_test_cfg=None`` (raw
        boxes (n_i, 4 C), probabilities), restricted to the person class.
        """
        num_rois = [len(p) for p in proposals]
        if sum(num_rois) == 0:
            return [
                InstanceData(
                    bboxes=p.new_zeros((0, 4)),
                    scores=p.new_zeros((0, bbox_head.num_classes + 1)))
                for p in proposals
            ]
        results = forward(bbox2roi(list(proposals)))
        if bbox_head.custom_cls_channels:
            probs = bbox_head.loss_cls.get_activation(results['cls_score'])
        else:
            probs = F.softmax(results['cls_score'], dim=-1)
        boxes = self.decode_person_boxes(bbox_head, proposals,
                                         results['bbox_pred'],
                                         batch_img_metas)
        out = [
            InstanceData(bboxes=b, scores=s)
            for b, s in zip(boxes, probs.split(num_rois))
        ]
        if 'embeddings' in results:
            for res, emb in zip(out, results['embeddings'].split(num_rois)):
                res.embeddings = emb
        return out

    @staticmethod
    def decode_person_boxes(bbox_head: BBoxHead, priors: Sequence[Tensor],
                            bbox_pred: Tensor,
                            batch_img_metas: List[dict]) -> List[Tensor]:
        """Person-class deltas (R, 4 or 4 C) of ``bbox_head`` decoded onto
        per-image ``priors`` (n_i, 4) and clipped to each image: list of
        (n_i, 4)."""
        out = []
        for p, d, meta in zip(priors,
                              bbox_pred.split([len(p) for p in priors]),
                              batch_img_metas):
            labels = p.new_zeros(len(p), dtype=torch.long)
            out.append(bbox_head.regress_by_class(p, labels, d, meta))
        return out

    @staticmethod
    def _query_instances(data_sample) -> InstanceData:
        """The query box(es) of a query sample, score 1, label 0."""
        bboxes = get_box_tensor(data_sample.gt_instances.bboxes).float()
        return InstanceData(
            bboxes=bboxes,
            scores=bboxes.new_ones(len(bboxes)),
            labels=bboxes.new_zeros(len(bboxes), dtype=torch.long))
