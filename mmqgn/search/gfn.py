"""Two-phase GFN search, written once (gfn_seqnext.md §3.1, §8.1 decision 3).

Phase 1 scores each gallery scene against the query from query-independent
scene embeddings; phase 2 detects persons only in the scenes scoring at
least the threshold. The similarities of the kept scenes are weighted by the
scene's score, ``s = s_reid * s_det * sigmoid(s_gfn / alpha)``.
"""
from typing import Callable, Optional, Sequence, Union

import torch
from mmdet.structures import SampleList
from torch import Tensor

from mmqgn.models.gfn import GalleryFilterNetwork
from mmqgn.models.utils import empty_boxes, is_query_sample

#: ``gfn_thr`` value meaning "the model's ``test_cfg.gfn.filter_thr``".
FROM_CONFIG = 'config'


def resolve_gfn_thr(model, gfn_thr: Union[float, None, str] = FROM_CONFIG
                    ) -> Optional[float]:
    """The filter threshold of a search: ``gfn_thr`` itself, or with
    :data:`FROM_CONFIG` the model's ``gfn_filter_thr`` (None: weighting
    only). Raises ValueError for a threshold on a model without a GFN, or a
    string other than :data:`FROM_CONFIG`."""
    if isinstance(gfn_thr, str):
        if gfn_thr != FROM_CONFIG:
            raise ValueError(f'gfn_thr must be a number, None or '
                             f'{FROM_CONFIG!r}, got {gfn_thr!r}')
        return model.gfn_filter_thr if model.with_gfn else None
    if gfn_thr is not None and not model.with_gfn:
        raise ValueError(f'gfn_thr={gfn_thr} needs a model with a Gallery '
                         f'Filter Network; {type(model).__name__} has no '
                         'GFN (model.gfn is None)')
    return None if gfn_thr is None else float(gfn_thr)


def _field(record, name: str) -> Tensor:
    """``record[name]`` of a dict, else the attribute of a data sample."""
    return record[name] if isinstance(record, dict) else getattr(record, name)


def _query_embedding(record) -> Tensor:
    """(D,) query person embedding: ``embedding`` of a dict, else the first
    ``pred_instances.embeddings`` row of a data sample."""
    if isinstance(record, dict):
        return record['embedding'].view(-1)
    return record.pred_instances.embeddings[0]


def gfn_scores(model_or_gfn, query, gallery: Union[Tensor,
                                                   Sequence]) -> Tensor:
    """GFN scores (G,) of one query against G gallery scenes (§3.1):
    ``sigmoid(cos / alpha)`` with cos per the GFN mode ('combined':
    cos(f(x_q, y_qscene), f(x_q, y_g)); 'base': cos(x_q, y_g); 'image':
    cos(y_qscene, y_g)); in [0.2689, 0.7311] for alpha = 1.

    Args:
        model_or_gfn: a detector with a GFN (``model.gfn``), or the
            :class:`GalleryFilterNetwork` (eval mode).
        query: a predicted query data sample, or a dict with ``embedding``
            (D,) and ``scene_embedding`` (D,).
        gallery: (G, D) scene embeddings, or G predicted gallery samples /
            dicts with ``scene_embedding`` (D,).
    """
    gfn = model_or_gfn if isinstance(model_or_gfn, GalleryFilterNetwork) \
        else model_or_gfn.gfn
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


def make_scene_filter(model, query, thr: Optional[float] = None
                      ) -> Optional[Callable[[Tensor], Tensor]]:
    """``scene_filter`` for :func:`two_phase_predict` keeping the scenes
    whose GFN score against ``query`` (see :func:`gfn_scores`) is >= ``thr``
    (default: the model's ``gfn_filter_thr``); None when there is no
    threshold."""
    thr = model.gfn_filter_thr if thr is None else thr
    if thr is None:
        return None
    return lambda scenes: gfn_scores(model, query, scenes) >= thr


def two_phase_predict(model,
                      batch_inputs: Tensor,
                      batch_data_samples: SampleList,
                      scene_filter: Optional[Callable[[Tensor],
                                                      Tensor]] = None,
                      rescale: bool = True) -> SampleList:
    """``model.predict`` of an embedding-form detector with two-phase
    filtering: the backbone runs once; ``scene_filter`` maps the (B, D) unit
    scene embeddings to a (B,) bool keep mask, and the RPN and RoI head run
    only on kept gallery images (query images are always kept). A skipped
    sample gets empty ``pred_instances`` (bboxes (0, 4), scores (0,),
    labels (0,), embeddings (0, D)) and ``gfn_skipped = True``; every sample
    carries the GFN fields of ``predict``. Without a filter this is
    ``predict``."""
    x = model.extract_feat(batch_inputs)
    scenes = model.scene_embeddings(x, batch_data_samples) \
        if model.with_gfn else None
    keep = _keep_mask(scenes, batch_data_samples, scene_filter)
    kept = keep.nonzero().view(-1).tolist()
    if kept:  # writes pred_instances into the kept samples
        model.predict_from_feats(tuple(feat[kept] for feat in x),
                                 [batch_data_samples[i] for i in kept],
                                 rescale)
    dim = model.roi_head.reid_head.embed_dim
    for i in (~keep).nonzero().view(-1).tolist():
        pred = empty_boxes(x[0])
        pred.embeddings = x[0].new_zeros((0, dim))
        batch_data_samples[i].pred_instances = pred
        batch_data_samples[i].gfn_skipped = True
    if scenes is not None:
        model.add_gfn_fields(batch_data_samples, scenes)
    return batch_data_samples


def _keep_mask(scenes: Optional[Tensor], batch_data_samples: SampleList,
               scene_filter: Optional[Callable]) -> Tensor:
    """(B,) bool: images to detect on (queries always kept)."""
    queries = torch.tensor(
        [is_query_sample(ds) for ds in batch_data_samples], dtype=torch.bool)
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
