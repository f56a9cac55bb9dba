"""RoI head of the query-guided detectors (QGN / QEEPS, qgn_qeeps.md §5, §8.4).

:class:`PersonSearchRoIHead` (ClsNet, RegNet, ID Net + OIM on the gallery
image) plus QSimNet between the query embedding f_q (the GT query box through
the same RoI extractor, res5 and ID Net) and the gallery RoI embeddings f_g.
"""
from functools import partial
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.ops import batched_nms
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.structures import SampleList
from mmdet.structures.bbox import scale_boxes
from mmdet.utils import InstanceList
from mmengine.structures import InstanceData
from torch import Tensor

from mmqgn.registry import MODELS
from .person_search_roi_head import PersonSearchRoIHead


@MODELS.register_module()
class QGNRoIHead(PersonSearchRoIHead):
    """Person-search RoI head with a query-guided similarity (QSimNet).

    Training (``loss``): mmdet's ``loss_cls`` / ``loss_bbox``, ``loss_oim``
    on the gallery's foreground RoIs and ``loss_sim`` (QGN Eq. 4): f_q (B, D)
    against every sampled RoI's f_g (R, D), label 1 iff the RoI is assigned
    (IoU >= the RCNN positive threshold) to a person with the query's
    identity (decision D6: other people and background are negatives).

    Test (``predict``): RCNN boxes without class NMS; drop person score
    < ``test_cfg.score_thr`` (0.01, §5.3); ``sims`` = QSimNet p_same or,
    without QSimNet, the cosine f_q . f_g; NMS (``test_cfg.nms``) on ``sims``
    with QSimNet, on the person score without (decision E4;
    ``test_cfg.nms_score='score'`` always uses the person score, an
    ablation); keep at most ``test_cfg.max_per_img``.

    Args:
        qsimnet (dict, optional): :class:`QSimNet` config; None switches it
            off (cosine ranking).
        **kwargs: :class:`PersonSearchRoIHead` arguments.
    """

    def __init__(self, qsimnet: Optional[dict] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.qsimnet = MODELS.build(qsimnet) if qsimnet else None

    @property
    def with_qsimnet(self) -> bool:
        return self.qsimnet is not None

    def query_embeddings(self, query_feats: Tuple[Tensor],
                         query_bboxes: Sequence[Tensor]) -> Tensor:
        """B query maps and boxes (1, 4) (input pixels) -> f_q (B, D)."""
        return self.embed_boxes(query_feats, query_bboxes)

    # ---------------------------------------------------------------- loss
    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList, query_feats: Tuple[Tensor],
             query_bboxes: Sequence[Tensor],
             query_labels: Tensor) -> dict:
        """Losses of B pairs.

        Args:
            x: gallery features, tuple of (B, C, H, W).
            rpn_results_list: B gallery proposal sets.
            batch_data_samples: the B gallery samples (all persons as GT).
            query_feats: query features, tuple of (B, C, H, W).
            query_bboxes: B query boxes (1, 4) in input pixels.
            query_labels: (B,) OIM person labels of the queries.
        """
        losses, sampling_results, batch_gt_instances, f_g = \
            self.detection_reid_loss(x, rpn_results_list, batch_data_samples)
        if self.with_qsimnet:
            f_q = self.query_embeddings(query_feats, query_bboxes)
            counts = [len(res.priors) for res in sampling_results]
            f_q = f_q.repeat_interleave(torch.as_tensor(
                counts, device=f_q.device), dim=0)
            targets = self.sim_targets(sampling_results, batch_gt_instances,
                                       query_labels)
            losses.update(self.qsimnet.loss(f_q, f_g, targets))
        return losses

    @staticmethod
    def sim_targets(sampling_results: List[SamplingResult],
                    batch_gt_instances: InstanceList,
                    query_labels: Tensor) -> Tensor:
        """(R,) QSimNet labels over the sampled RoIs (pos then neg per
        image): 1 iff assigned to a GT with the query's person label."""
        targets = []
        for res, gts, q in zip(sampling_results, batch_gt_instances,
                               query_labels.tolist()):
            person_labels = torch.as_tensor(
                gts.person_labels, device=res.priors.device)
            same = person_labels[res.pos_assigned_gt_inds] == q
            targets.append(torch.cat([
                same.long(),
                same.new_zeros(len(res.neg_priors), dtype=torch.long)
            ]))
        return torch.cat(targets)

    # ------------------------------------------------------------- predict
    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                query_feats: Tuple[Tensor],
                query_bboxes: Sequence[Tensor],
                rescale: bool = False) -> InstanceList:
        """Per pair: ``bboxes`` (N, 4) (original pixels when ``rescale``),
        ``scores`` (N,) person score, ``sims`` (N,), ``labels`` (N,) and
        ``embeddings`` (N, D) of the gallery detections."""
        results_list = self.detect(x, rpn_results_list, batch_data_samples)
        f_q = self.query_embeddings(query_feats, query_bboxes)
        return self.rank(results_list, f_q, batch_data_samples, rescale)

    def detect(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
               batch_data_samples: SampleList) -> InstanceList:
        """The query-independent part of ``predict``: per image, the RCNN
        boxes (input pixels, no NMS) with a person score >= ``score_thr``,
        their ``scores`` and ``embeddings``."""
        raw = self.raw_detections(
            [res.bboxes for res in rpn_results_list],
            [ds.metainfo for ds in batch_data_samples], self.bbox_head,
            partial(self._bbox_forward, x))
        return self.predict_reid(x, [self._filter(res) for res in raw])

    def rank(self, results_list: InstanceList, f_q: Tensor,
             batch_data_samples: SampleList,
             rescale: bool = False) -> InstanceList:
        """``detect`` outputs and f_q (B, D) -> the ``predict`` outputs
        (new instances; the inputs are left unchanged)."""
        results_list = [
            self._rank(res, fq[None]) for res, fq in zip(results_list, f_q)
        ]
        if rescale:
            for res, ds in zip(results_list, batch_data_samples):
                res.bboxes = scale_boxes(
                    res.bboxes, [1 / s for s in ds.metainfo['scale_factor']])
        return results_list

    def _filter(self, res: InstanceData) -> InstanceData:
        """Raw detections (:meth:`raw_detections`: bboxes (N, 4), class
        probabilities (N, 2)) -> the boxes with a person score >=
        ``score_thr`` and that score (N',)."""
        scores = res.scores[:, 0]
        keep = scores >= self.test_cfg.score_thr
        return InstanceData(bboxes=res.bboxes[keep], scores=scores[keep])

    def _rank(self, res: InstanceData, f_q: Tensor) -> InstanceData:
        """Add ``sims`` against f_q (1, D); NMS and top-k (see class doc)."""
        if self.with_qsimnet and len(res) > 0:
            sims = self.qsimnet.predict(f_q, res.embeddings)
        else:
            sims = (res.embeddings * f_q).sum(dim=1)
        # 'sim' (the papers, §5.3): NMS on p_same with QSimNet; 'score':
        # NMS on the person score (the detector's own NMS), ranking by sims
        by_sim = self.test_cfg.get('nms_score', 'sim') == 'sim'
        nms_score = sims if self.with_qsimnet and by_sim else res.scores
        keep = sims.new_zeros((0, ), dtype=torch.long)
        if len(res) > 0:
            _, keep = batched_nms(res.bboxes, nms_score.contiguous(),
                                  keep.new_zeros(len(res)),
                                  self.test_cfg.nms)
            keep = keep[:self.test_cfg.max_per_img]
        return InstanceData(
            bboxes=res.bboxes[keep],
            scores=res.scores[keep],
            sims=sims[keep],
            labels=keep.new_zeros(len(keep)),
            embeddings=res.embeddings[keep])
