"""Gallery Filter Network attached to a person-search detector by config
(gfn_seqnext.md §3, §8.1 decisions 1-2, 8-9, 11).

Design: :class:`GFNDetectorMixin` adds an optional ``gfn`` argument to any
mmqgn two-stage person-search detector; the registered classes are the
mixin over an existing detector, with no other change::

    model = dict(type='OIMWithGFN',            # or 'SeqNeXtWithGFN'
                 ...,                          # the OIM / SeqNeXt arguments
                 gfn=dict(type='GalleryFilterNetwork', pool_size=56))

``gfn=None`` gives the plain detector (same parameters, losses, outputs).
``scene_head`` / ``emb_head`` left out of ``gfn`` are deep copies of the RoI
head's conv5 ``shared_head`` and of its ``reid_head`` without the OIM loss
(§3.2: copies made at construction, sharing no parameter).

Outputs of ``predict`` (gallery and query samples alike): each data sample
gets the field ``scene_embedding`` (D,), unit norm, of its whole image; the
query person embedding stays in ``pred_instances.embeddings`` (N_q, D).
:func:`gfn_scores` and :func:`weight_similarities` turn them into
``s = s_reid * s_det * sigmoid(s_gfn / alpha)`` (§3.1).
"""
import copy
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from mmdet.structures import SampleList
from mmdet.structures.bbox import get_box_tensor
from torch import Tensor

from mmqgn.registry import MODELS
from ..gfn import GalleryFilterNetwork, valid_feature_sizes
from ..utils import empty_boxes, is_query_sample
from .oim import OIM
from .seqnext import SeqNeXt


class GFNDetectorMixin:
    """Adds a :class:`GalleryFilterNetwork` to a two-stage person-search
    detector (``roi_head`` with ``shared_head``, ``reid_head`` and
    ``embed_boxes``).

    Training (§3.8): ``loss_gfn`` from the C4 map ``x[0]`` (B, C4, H, W),
    pooled over each image's valid region (``img_shape``, decision 11), and
    query persons: in 'batch' query mode the embeddings (Q, D) of all GT
    boxes through ``roi_head.embed_boxes`` (with gradient); in 'proto'
    mode (§3.6) the OIM lookup-table rows ``loss_reid.lut[person_labels]``
    of the known GT persons (unknown persons dropped, no gradient). Person
    ids: ``gt_instances.person_ids``, else ``person_labels`` (-1 unknown);
    image ids (``img_id``) for the GFN's LUT if it has one.

    Args:
        gfn (dict, optional): :class:`GalleryFilterNetwork` config; None
            disables the GFN.
        gfn_backbone_grad (bool): ``loss_gfn`` back-propagates into the
            shared backbone, as the paper trains it (§3.2). False detaches
            the backbone features it sees (the GFN heads and the person
            embedding path still learn), so the GFN cannot change the
            detector's features. Defaults to True.
        **kwargs: the detector's arguments.
    """

    def __init__(self,
                 *args,
                 gfn: Optional[dict] = None,
                 gfn_backbone_grad: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gfn = self._build_gfn(gfn) if gfn is not None else None
        self.gfn_backbone_grad = gfn_backbone_grad

    def _build_gfn(self, cfg: dict) -> GalleryFilterNetwork:
        """Build the GFN; missing heads are copies of the person modules."""
        cfg = copy.deepcopy(dict(cfg))
        if cfg.get('scene_head') is None:
            cfg['scene_head'] = self.roi_head.shared_head
        if cfg.get('emb_head') is None:
            cfg['emb_head'] = self.roi_head.reid_head.copy_without_loss()
        return MODELS.build(cfg)

    @property
    def with_gfn(self) -> bool:
        return self.gfn is not None

    # ------------------------------------------------------------ scenes
    def _scene_embeddings(self, x: Tuple[Tensor],
                          batch_data_samples: Optional[SampleList]) -> Tensor:
        """Unit scene embeddings (B, D) from the backbone features."""
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
        only (no RPN / RoI head): the GFN score is known before detection.
        Without data samples the whole (padded) map is pooled."""
        if not self.with_gfn:
            raise RuntimeError('the detector has no GFN (gfn=None)')
        return self._scene_embeddings(self.extract_feat(batch_inputs),
                                      batch_data_samples)

    # -------------------------------------------------------------- loss
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> dict:
        """The detector's losses, plus ``loss_gfn`` with a GFN."""
        x = self.extract_feat(batch_inputs)
        losses = self._detector_loss(x, batch_data_samples)
        if self.with_gfn:
            if not self.gfn_backbone_grad:
                x = tuple(f.detach() for f in x)
            losses.update(self.gfn_loss(x, batch_data_samples))
        return losses

    def _detector_loss(self, x: Tuple[Tensor],
                       batch_data_samples: SampleList) -> dict:
        """``TwoStageDetector.loss`` after ``extract_feat`` (RPN + RoI)."""
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

    def gfn_loss(self, x: Tuple[Tensor],
                 batch_data_samples: SampleList) -> dict:
        """``loss_gfn`` of the batch (§3.8): GT persons (Q, D) vs scenes
        (B, D)."""
        gts = [ds.gt_instances for ds in batch_data_samples]
        boxes = [get_box_tensor(g.bboxes).float() for g in gts]
        pids = [self._person_ids(g, b.device) for g, b in zip(gts, boxes)]
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
                             self._scene_embeddings(x, batch_data_samples),
                             pids, image_ids)

    def _prototypes(self, gts, device) -> Tuple[Tensor, Tensor]:
        """'proto' query mode (§3.6): the OIM lookup-table rows (K, D) of
        the known GT persons (OIM ``person_labels`` >= 0) and the (Q,) bool
        mask of those persons; no gradient."""
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

    @staticmethod
    def _person_ids(gt_instances, device) -> Tensor:
        """Person ids (N,), -1 unknown: ``person_ids``, else the OIM
        ``person_labels``."""
        key = 'person_ids' if 'person_ids' in gt_instances else \
            'person_labels'
        return torch.as_tensor(gt_instances.get(key),
                               device=device).long().view(-1)

    # ----------------------------------------------------------- predict
    @property
    def gfn_filter_thr(self) -> Optional[float]:
        """``test_cfg.gfn.filter_thr`` (see :func:`config_filter_thr`)."""
        return config_filter_thr(self)

    def make_scene_filter(self, query,
                          thr: Optional[float] = None) -> Optional[Callable]:
        """``scene_filter`` for :meth:`predict` keeping the scenes whose GFN
        score against ``query`` (see :func:`gfn_scores`) is >= ``thr``
        (default :attr:`gfn_filter_thr`); None when there is no threshold."""
        thr = self.gfn_filter_thr if thr is None else thr
        if thr is None:
            return None
        return lambda scenes: gfn_scores(self, query, scenes) >= thr

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True,
                scene_filter: Optional[Callable[[Tensor], Tensor]] = None
                ) -> SampleList:
        """The detector's predictions; with a GFN every data sample also
        carries ``scene_embedding`` (D,) and query samples ``gfn_query``
        (3D + 3,), the query code of :meth:`GalleryFilterNetwork.query_code`
        (for scoring pairs without the model).

        Two-phase filtering (§3.1, decision 3): ``scene_filter`` maps the
        (B, D) unit scene embeddings to a (B,) bool keep mask. The backbone
        runs once; RPN and RoI head run only on kept gallery images (query
        images are always kept). A skipped sample gets empty
        ``pred_instances`` (bboxes (0, 4), scores (0,), labels (0,),
        embeddings (0, D)) and ``gfn_skipped = True``.
        """
        x = self.extract_feat(batch_inputs)
        scenes = self._scene_embeddings(x, batch_data_samples) \
            if self.with_gfn else None
        keep = self._keep_mask(scenes, batch_data_samples, scene_filter)
        kept = keep.nonzero().view(-1).tolist()
        results_list = [None] * len(batch_data_samples)
        if kept:
            sub_x = tuple(feat[kept] for feat in x)
            sub_samples = [batch_data_samples[i] for i in kept]
            rpn_results_list = self.predict_proposals(sub_x, sub_samples)
            for i, res in zip(
                    kept,
                    self.roi_head.predict(sub_x, rpn_results_list,
                                          sub_samples, rescale=rescale)):
                results_list[i] = res
        dim = self.roi_head.reid_head.embed_dim
        for i in (~keep).nonzero().view(-1).tolist():
            results_list[i] = empty_boxes(x[0])
            results_list[i].embeddings = x[0].new_zeros((0, dim))
        samples = self.add_pred_to_datasample(batch_data_samples, results_list)
        if self.with_gfn:
            self._attach_gfn_fields(samples, scenes, keep, scene_filter)
        return samples

    def _keep_mask(self, scenes: Optional[Tensor],
                   batch_data_samples: SampleList,
                   scene_filter: Optional[Callable]) -> Tensor:
        """(B,) bool: images to detect on (queries always kept)."""
        queries = torch.tensor(
            [is_query_sample(ds) for ds in batch_data_samples],
            dtype=torch.bool)
        if scene_filter is None:
            return torch.ones_like(queries)
        if scenes is None:
            raise RuntimeError('scene_filter needs a GFN (gfn=None)')
        keep = torch.as_tensor(scene_filter(scenes)).to('cpu').view(-1)
        if keep.dtype != torch.bool or len(keep) != len(queries):
            raise ValueError('scene_filter must return a (B,) bool mask, got '
                             f'{tuple(keep.shape)} {keep.dtype} for B = '
                             f'{len(queries)}')
        return keep | queries

    def _attach_gfn_fields(self, samples: SampleList, scenes: Tensor,
                           keep: Tensor,
                           scene_filter: Optional[Callable]) -> None:
        """``scene_embedding`` (all), ``gfn_query`` (queries),
        ``gfn_skipped`` (filtered samples)."""
        for ds, scene, kept in zip(samples, scenes, keep.tolist()):
            ds.scene_embedding = scene
            if scene_filter is not None and not kept:
                ds.gfn_skipped = True
            if is_query_sample(ds) and len(ds.pred_instances):
                ds.gfn_query = self.gfn.query_code(
                    ds.pred_instances.embeddings[:1], scene[None])[0]


@MODELS.register_module()
class OIMWithGFN(GFNDetectorMixin, OIM):
    """:class:`OIM` with an optional GFN (``gfn`` argument); see
    :class:`GFNDetectorMixin`."""


@MODELS.register_module()
class SeqNeXtWithGFN(GFNDetectorMixin, SeqNeXt):
    """:class:`SeqNeXt` with an optional GFN, the full SeqNeXt+GFN model of
    the paper; see :class:`GFNDetectorMixin`."""


# ----------------------------------------------------------------- scores
def config_filter_thr(model) -> Optional[float]:
    """``model.test_cfg.gfn.filter_thr`` of any detector (None when absent:
    weighting only, gfn_seqnext.md §8.1 decision 3)."""
    test_cfg = getattr(model, 'test_cfg', None) or {}
    thr = (test_cfg.get('gfn') or {}).get('filter_thr')
    return None if thr is None else float(thr)


def _field(record, name: str) -> Tensor:
    """``record[name]`` of a dict, else the attribute of a data sample."""
    return record[name] if isinstance(record, dict) else getattr(record, name)


def _query_embedding(record) -> Tensor:
    """(D,) query person embedding: ``embedding`` of a dict, else the first
    ``pred_instances.embeddings`` row of a data sample."""
    if isinstance(record, dict):
        return record['embedding'].view(-1)
    return record.pred_instances.embeddings[0]


def gfn_scores(model_or_gfn: Union[GFNDetectorMixin, GalleryFilterNetwork],
               query, gallery: Union[Tensor, Sequence]) -> Tensor:
    """GFN scores (G,) of one query against G gallery scenes (§3.1):
    ``sigmoid(cos / alpha)`` with cos per the GFN mode ('combined':
    cos(f(x_q, y_qscene), f(x_q, y_g)); 'base': cos(x_q, y_g); 'image':
    cos(y_qscene, y_g)); in [0.2689, 0.7311] for alpha = 1.

    Args:
        model_or_gfn: a detector with a GFN, or the GFN (eval mode).
        query: a predicted query data sample, or a dict with ``embedding``
            (D,) and ``scene_embedding`` (D,).
        gallery: (G, D) scene embeddings, or G predicted gallery samples /
            dicts with ``scene_embedding`` (D,).
    """
    gfn = getattr(model_or_gfn, 'gfn', model_or_gfn)
    if not isinstance(gallery, Tensor):
        gallery = torch.stack([_field(g, 'scene_embedding') for g in gallery])
    person = _query_embedding(query)[None]
    scene = _field(query, 'scene_embedding').view(1, -1)
    return gfn.score(person, scene, gallery.to(person))[0]


def weight_similarities(sims: Tensor, gfn_score: Union[Tensor,
                                                       float]) -> Tensor:
    """``s = s_reid * s_det * sigmoid(s_gfn / alpha)`` (§3.1).

    Args:
        sims: CWS similarities ``s_reid * s_det``: (N,) boxes of one scene,
            or (G, N) / (G,) for G scenes.
        gfn_score: scalar, or (G,) from :func:`gfn_scores`, broadcast over
            the trailing (box) dimension.
    """
    score = torch.as_tensor(gfn_score, dtype=sims.dtype, device=sims.device)
    return sims * score.reshape(score.shape + (1, ) *
                                (sims.dim() - score.dim()))
