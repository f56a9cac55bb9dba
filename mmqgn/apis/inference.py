"""Person-search inference on images (after ``mmdet.apis.inference``).

The ranking itself is :class:`mmqgn.search.Searcher`'s (shared with
:class:`QueryMajorTestLoop`): embedding-form models (OIM, SeqNeXt, ...) rank
gallery persons by the dot product of their embeddings with the query
embedding; query-guided models (a :class:`QueryGuidedDetector`: QGN /
QEEPS) run every gallery image jointly with the query and rank by the pair
``sims``. With a Gallery Filter Network (``model.with_gfn``, gfn_seqnext.md
§3.1, §8.1 decision 3) the search is two-phase and the similarities are
weighted by the scene's GFN score, ``s = sim * sigmoid(s_gfn / alpha)``.

Images are file paths or BGR ``ndarray``s (as ``mmcv.imread`` returns them)
and go through the test pipeline of the config, ``LoadImageFromFile``
replaced by ``LoadImageFromNDArray`` for arrays.
"""
import warnings
from collections.abc import Sized
from itertools import islice
from pathlib import Path
from typing import (Dict, Iterable, Iterator, List, NamedTuple, Optional,
                    Sequence, Union)

import numpy as np
import torch
import torch.nn as nn
from mmdet.apis import init_detector
from mmdet.evaluation import get_classes
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar
from torch import Tensor

from mmqgn.models.detectors import QueryGuidedDetector
from mmqgn.search import FROM_CONFIG, Searcher, weight_similarities
from .loading import (ImageType, Loader, SearchInputError, gallery_name,
                      is_single_image, test_dataset_metainfo)


class SearchMatch(NamedTuple):
    """One detected gallery person, ranked against the query.

    ``gallery_idx``: index of its image in the gallery; ``bbox``: (4,)
    x1y1x2y2 in that image's original pixels; ``score``: detection score;
    ``similarity``: the ranking score (embedding models: cosine similarity
    to the query embedding; query-guided models: the pair ``sims``), times
    ``gfn_score`` when the model has a GFN; ``gfn_score``: the GFN score of
    the image for the query (None without a GFN).
    """
    gallery_idx: int
    bbox: np.ndarray
    score: float
    similarity: float
    gfn_score: Optional[float] = None


def init_searcher(config: Union[str, Path, Config],
                  checkpoint: Optional[str] = None,
                  device: str = 'cpu',
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a person searcher from a config (and load a checkpoint).

    Wraps :func:`mmdet.apis.init_detector` (which sets the config's default
    scope, ``mmqgn`` for mmqgn configs). Without a checkpoint, or one without
    ``dataset_meta``, the metainfo of the config's test dataset is used
    (mmdet would fall back to the COCO classes).

    Returns:
        nn.Module: the model in eval mode on ``device``, with ``model.cfg``.
    """
    model = init_detector(
        config, checkpoint, device=device, cfg_options=cfg_options)
    # mmdet's fallback when the checkpoint has no class names
    if list(model.dataset_meta.get('classes', [])) == list(
            get_classes('coco')):
        model.dataset_meta = test_dataset_metainfo(model.cfg)
    return model


# ------------------------------------------------------------ model kinds
def is_query_guided(model: nn.Module) -> bool:
    """True for a query-guided searcher (a :class:`QueryGuidedDetector`)."""
    return isinstance(model, QueryGuidedDetector)


def has_gfn(model: nn.Module) -> bool:
    """True for a searcher with a Gallery Filter Network."""
    return model.with_gfn


def config_gfn_thr(model: nn.Module) -> Optional[float]:
    """The model's ``test_cfg.gfn.filter_thr`` (None when absent)."""
    return model.gfn_filter_thr


def _searcher(model: nn.Module, gfn_thr=FROM_CONFIG) -> Searcher:
    """A :class:`Searcher`; a bad ``gfn_thr`` is a :class:`SearchInputError`."""
    try:
        return Searcher(model, gfn_thr, code_cache_size=0, scene_cache_size=0)
    except ValueError as e:
        raise SearchInputError(str(e)) from e


def _embedding_only(model: nn.Module, what: str) -> None:
    if is_query_guided(model):
        raise TypeError(
            f'{what} needs an embedding-form searcher; {type(model).__name__}'
            ' is query-guided (its detections and similarities depend on '
            'the query): use search()')


# ------------------------------------------------------- public helpers
def extract_query(model: nn.Module, img: ImageType,
                  bbox: Sequence[float]) -> Tensor:
    """Embedding of the person in box ``bbox`` of the query image ``img``.

    Args:
        model (nn.Module): an embedding-form searcher from
            :func:`init_searcher` (query-guided models raise TypeError).
        img (str | Path | np.ndarray): image path or BGR array.
        bbox (Sequence[float]): [x1, y1, x2, y2] in the image's pixels.

    Returns:
        Tensor: (D,) L2-normalised embedding, on the CPU.

    Raises:
        SearchInputError: unreadable image, or a box that is not a
            positive-size box inside the image.
    """
    _embedding_only(model, 'extract_query')
    searcher = _searcher(model)
    searcher.set_query(Loader(model).query(img, bbox))
    return searcher.embedding.detach().cpu()


def extract_gfn_query(model: nn.Module, img: ImageType,
                      bbox: Sequence[float]) -> Dict[str, Tensor]:
    """The GFN query record of a query person (gfn_seqnext.md §3.1):
    ``dict(embedding=(D,), scene_embedding=(D,))`` on the model's device,
    the input of :func:`gfn_scores`. Embedding models: the query person
    embedding and its scene embedding from one ``predict``; query-guided
    models: ``model.gfn_query`` (query-independent pass)."""
    _need_gfn(model)
    searcher = _searcher(model)
    searcher.set_query(Loader(model).query(img, bbox))
    return searcher.gfn_query


def extract_scene_embeddings(model: nn.Module,
                             imgs: Iterable[ImageType],
                             batch_size: int = 1) -> Tensor:
    """Unit scene embeddings (G, D) of gallery images (backbone + GFN only,
    no detection; for query-guided models a query-independent pass), each
    image on its own (so that it can be cached across queries), on the
    CPU. ``batch_size`` is accepted for compatibility: images are read one
    at a time."""
    _need_gfn(model)
    loader, searcher = Loader(model), _searcher(model)
    out = [
        searcher.scene_embedding((None, lambda: loader.gallery(img, idx)))
        for idx, img in enumerate(imgs)
    ]
    if not out:
        raise SearchInputError('no gallery image given')
    return torch.stack(out).cpu()


def _need_gfn(model: nn.Module) -> None:
    if not has_gfn(model):
        raise SearchInputError(f'{type(model).__name__} has no Gallery '
                               'Filter Network (model.gfn is None)')


def detect_persons(
        model: nn.Module,
        imgs: Union[ImageType, Sequence[ImageType]]
) -> Union[InstanceData, List[InstanceData]]:
    """Detect the people of gallery image(s) and embed them.

    Args:
        model (nn.Module): an embedding-form searcher from
            :func:`init_searcher` (query-guided models raise TypeError).
        imgs: one image (path or BGR array) or a sequence of them.

    Returns:
        InstanceData | list[InstanceData]: per image (a list if ``imgs`` is a
        sequence), on the CPU: ``bboxes`` (N, 4) x1y1x2y2 in original pixels
        (clipped to the image), ``scores`` (N,), ``labels`` (N,),
        ``embeddings`` (N, D).
    """
    _embedding_only(model, 'detect_persons')
    loader, searcher = Loader(model), _searcher(model)

    def detect(img):
        item = loader.gallery(img)
        return _clipped(searcher.predict([(None, lambda: item)])[0])

    if is_single_image(imgs):
        return detect(imgs)
    return [detect(img) for img in imgs]


# ------------------------------------------------------------------ search
def search(model: nn.Module,
           query_img: ImageType,
           query_bbox: Sequence[float],
           gallery_imgs: Iterable[ImageType],
           topk: Optional[int] = None,
           score_thr: float = 0.0,
           progress: bool = True,
           batch_size: int = 1,
           gfn_thr: Union[float, None, str] = FROM_CONFIG,
           stats: Optional[dict] = None,
           skip_unreadable: bool = False) -> List[SearchMatch]:
    """Rank every person detected in the gallery against a query person.

    Gallery images are read and processed ``batch_size`` at a time, so
    ``gallery_imgs`` may be a lazy sequence (e.g. an ``mmcv.VideoReader``).
    The query image goes through the pipeline once. Embedding models: the
    similarity is the dot product of the L2-normalised embeddings (cosine;
    confidence-weighted if the config sets ``test_cfg.rcnn.cws``);
    query-guided models: each gallery batch is paired with the query and
    ranked by the model's pair ``sims``. With a GFN the similarity is
    multiplied by the scene's GFN score and scenes scoring below ``gfn_thr``
    are skipped before detection (two-phase search).

    Args:
        model (nn.Module): a searcher from :func:`init_searcher`.
        query_img: query image (path or BGR array).
        query_bbox: [x1, y1, x2, y2] of the query person in ``query_img``.
        gallery_imgs: the gallery images (paths or BGR arrays).
        topk (int, optional): keep the best ``topk``; all if None.
        score_thr (float): ignore detections scoring below it.
        progress (bool): show a progress bar over the gallery.
        batch_size (int): gallery images per forward (1: results do not
            depend on the other images' sizes through padding).
        gfn_thr (float | None | 'config'): GFN filter threshold; None:
            weighting only; 'config' (default): ``model.test_cfg.gfn.
            filter_thr`` (None when absent or without a GFN). A GFN score
            is > 0, so 0 keeps every scene.
        stats (dict, optional): filled with ``num_scenes``, ``num_skipped``
            (scenes filtered out by the GFN), ``gfn_thr``, ``gfn_scores``
            (per searched gallery image; empty without a GFN) and, with
            ``skip_unreadable``, ``unreadable`` (names of the gallery
            images skipped as unreadable).
        skip_unreadable (bool): a gallery image that cannot be read is
            skipped with a warning naming it (listed in ``stats``) instead
            of raising :class:`SearchInputError`.

    Returns:
        list[SearchMatch]: best first (descending similarity).

    Raises:
        SearchInputError: bad query box, unreadable image, empty gallery,
            ``gfn_thr`` for a model without a GFN.
    """
    if topk is not None and topk < 1:
        raise SearchInputError(f'topk must be >= 1, got {topk}')
    if batch_size < 1:
        raise SearchInputError(f'batch_size must be >= 1, got {batch_size}')
    sized = isinstance(gallery_imgs, Sized)
    if sized and len(gallery_imgs) == 0:
        raise SearchInputError('the gallery is empty')
    searcher = _searcher(model, gfn_thr)
    loader = Loader(model)
    searcher.set_query(loader.query(query_img, query_bbox))
    bar = ProgressBar(len(gallery_imgs) if sized else 0) if progress else None
    matches, unreadable, scores_seen = [], [], []
    num_scenes = num_skipped = 0
    for chunk in _chunks(enumerate(gallery_imgs), batch_size):
        loaded = _load_chunk(loader, chunk, skip_unreadable, unreadable)
        if loaded:
            preds, scores = searcher.search([(None, lambda item=item: item)
                                             for _, item in loaded])
            num_scenes += len(loaded)
            if scores is not None:
                scores_seen += scores.tolist()
            for b, ((idx, _), pred) in enumerate(zip(loaded, preds)):
                if pred is None:
                    num_skipped += 1
                    continue
                gfn = None if scores is None else float(scores[b])
                matches += _matches(searcher, idx, pred, gfn, score_thr)
        if bar is not None:
            bar.update(len(chunk))
    if num_scenes == 0:
        raise SearchInputError('the gallery is empty' + (
            f' (all {len(unreadable)} images unreadable)' if unreadable
            else ''))
    if stats is not None:
        stats.update(num_scenes=num_scenes, num_skipped=num_skipped,
                     gfn_thr=searcher.gfn_thr, gfn_scores=scores_seen)
        if skip_unreadable:
            stats['unreadable'] = unreadable
    matches.sort(key=lambda m: m.similarity, reverse=True)
    return matches if topk is None else matches[:topk]


def _load_chunk(loader: Loader, chunk: list, skip_unreadable: bool,
                unreadable: List[str]) -> List[tuple]:
    """``(gallery index, item)`` of a chunk of ``(index, image)``; an
    unreadable image raises, or with ``skip_unreadable`` is warned about
    and listed in ``unreadable``."""
    loaded = []
    for idx, img in chunk:
        try:
            loaded.append((idx, loader.gallery(img, idx)))
        except SearchInputError as e:
            if not skip_unreadable:
                raise
            unreadable.append(gallery_name(img, idx))
            warnings.warn(f'skipping gallery image: {e}')
    return loaded


def _matches(searcher: Searcher, idx: int, sample, gfn: Optional[float],
             score_thr: float) -> List[SearchMatch]:
    """The matches of one predicted gallery sample."""
    pred = _clipped(sample)
    keep = pred.scores >= score_thr
    if searcher.pairs:
        sims = pred.sims[keep]
    else:
        sims = pred.embeddings[keep] @ searcher.embedding.cpu().to(
            pred.embeddings)
    if gfn is not None:
        sims = weight_similarities(sims, gfn)
    return [
        SearchMatch(idx, box, float(score), float(sim), gfn)
        for box, score, sim in zip(pred.bboxes[keep].numpy(),
                                   pred.scores[keep].tolist(),
                                   sims.tolist())
    ]


def _clipped(sample) -> InstanceData:
    """``pred_instances`` on the CPU, boxes clipped to the original image."""
    pred = sample.pred_instances.detach().cpu()
    height, width = sample.ori_shape[:2]
    pred.bboxes[:, 0::2] = pred.bboxes[:, 0::2].clamp(0, width)
    pred.bboxes[:, 1::2] = pred.bboxes[:, 1::2].clamp(0, height)
    return pred


def _chunks(iterable: Iterable, size: int) -> Iterator[list]:
    it = iter(iterable)
    while True:
        chunk = list(islice(it, size))
        if not chunk:
            return
        yield chunk
