"""Person-search inference on images (after ``mmdet.apis.inference``).

A searcher is an mmqgn detector whose ``predict`` gives, per image,
``pred_instances`` with ``bboxes`` (N, 4) x1y1x2y2 in original pixels,
``scores`` (N,) and L2-normalised ``embeddings`` (N, D); for a query image
(metainfo ``is_query=True``, the query box as its only ground-truth box) it
gives that box and its embedding. Images are file paths or BGR ``ndarray``s
(as ``mmcv.imread`` returns them) and go through the test pipeline of the
config, ``LoadImageFromFile`` replaced by ``LoadImageFromNDArray`` for arrays.
"""
import copy
from collections.abc import Sized
from pathlib import Path
from typing import (Iterable, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmcv.transforms import Compose
from mmdet.apis import init_detector
from mmdet.evaluation import get_classes
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData
from mmengine.utils import ProgressBar
from torch import Tensor

ImageType = Union[str, Path, np.ndarray]


class SearchInputError(ValueError):
    """Bad input to the search API (a box, an image, an empty gallery); the
    message names the image or box at fault."""


class SearchMatch(NamedTuple):
    """One detected gallery person, ranked against the query.

    ``gallery_idx``: index of its image in the gallery; ``bbox``: (4,)
    x1y1x2y2 in that image's original pixels; ``score``: detection score;
    ``similarity``: cosine similarity to the query embedding.
    """
    gallery_idx: int
    bbox: np.ndarray
    score: float
    similarity: float


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
        model.dataset_meta = _test_dataset_metainfo(model.cfg)
    return model


def _test_dataset_metainfo(cfg: Config) -> dict:
    """Metainfo of the (lazily built, nothing read) test dataset."""
    from mmdet.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg['lazy_init'] = True
    with _scope_of(cfg):
        return dict(DATASETS.build(dataset_cfg).metainfo)


def _scope_of(cfg: Config):
    """Context in which the registries resolve the config's types."""
    return DefaultScope.overwrite_default_scope(
        cfg.get('default_scope', 'mmqgn'))


def build_test_pipeline(cfg: Config, from_ndarray: bool = False) -> Compose:
    """The config's test pipeline; ``from_ndarray`` loads from
    ``results['img']`` (``mmdet.LoadImageFromNDArray``) instead of a file.
    """
    pipeline_cfg = copy.deepcopy(get_test_pipeline_cfg(cfg))
    if from_ndarray:
        pipeline_cfg[0].type = 'mmdet.LoadImageFromNDArray'
    with _scope_of(cfg):
        return Compose(pipeline_cfg)


def extract_query(model: nn.Module, img: ImageType,
                  bbox: Sequence[float]) -> Tensor:
    """Embedding of the person in box ``bbox`` of the query image ``img``.

    Args:
        model (nn.Module): a searcher from :func:`init_searcher`.
        img (str | Path | np.ndarray): image path or BGR array.
        bbox (Sequence[float]): [x1, y1, x2, y2] in the image's pixels.

    Returns:
        Tensor: (D,) L2-normalised embedding, on the CPU.

    Raises:
        SearchInputError: unreadable image, or a box that is not a
            positive-size box inside the image.
    """
    try:
        bbox = [float(v) for v in np.asarray(bbox, dtype=np.float64).ravel()]
    except (TypeError, ValueError) as e:
        raise SearchInputError(f'query box {bbox!r}: expected 4 numbers '
                               '[x1, y1, x2, y2]') from e
    instance = dict(bbox=bbox, bbox_label=0, ignore_flag=0, person_id=-1,
                    person_label=-1)
    pred, _ = _predict(model, img, instances=[instance], is_query=True,
                       check_box=bbox)
    return pred.embeddings[0]


def detect_persons(
        model: nn.Module,
        imgs: Union[ImageType, Sequence[ImageType]]
) -> Union[InstanceData, List[InstanceData]]:
    """Detect the people of gallery image(s) and embed them.

    Args:
        model (nn.Module): a searcher from :func:`init_searcher`.
        imgs: one image (path or BGR array) or a sequence of them.

    Returns:
        InstanceData | list[InstanceData]: per image (a list if ``imgs`` is a
        sequence), on the CPU: ``bboxes`` (N, 4) x1y1x2y2 in original pixels
        (clipped to the image), ``scores`` (N,), ``labels`` (N,),
        ``embeddings`` (N, D).
    """
    if _is_single_image(imgs):
        return _detect(model, imgs)
    return [_detect(model, img) for img in imgs]


def search(model: nn.Module,
           query_img: ImageType,
           query_bbox: Sequence[float],
           gallery_imgs: Iterable[ImageType],
           topk: Optional[int] = None,
           score_thr: float = 0.0,
           progress: bool = True) -> List[SearchMatch]:
    """Rank every person detected in the gallery against a query person.

    Gallery images are read and processed one at a time, so
    ``gallery_imgs`` may be a lazy sequence (e.g. an ``mmcv.VideoReader``).
    The similarity is the dot product of the model's embeddings: cosine
    similarity, as they are L2-normalised (confidence-weighted if the
    config sets ``test_cfg.rcnn.cws``).

    Args:
        model (nn.Module): a searcher from :func:`init_searcher`.
        query_img: query image (path or BGR array).
        query_bbox: [x1, y1, x2, y2] of the query person in ``query_img``.
        gallery_imgs: the gallery images (paths or BGR arrays).
        topk (int, optional): keep the best ``topk``; all if None.
        score_thr (float): ignore detections scoring below it.
        progress (bool): show a progress bar over the gallery.

    Returns:
        list[SearchMatch]: best first (descending similarity).

    Raises:
        SearchInputError: bad query box, unreadable image, empty gallery.
    """
    if topk is not None and topk < 1:
        raise SearchInputError(f'topk must be >= 1, got {topk}')
    sized = isinstance(gallery_imgs, Sized)
    if sized and len(gallery_imgs) == 0:
        raise SearchInputError('the gallery is empty')
    query = extract_query(model, query_img, query_bbox)
    bar = ProgressBar(len(gallery_imgs) if sized else 0) if progress else None
    matches, seen = [], 0
    for idx, img in enumerate(gallery_imgs):
        matches += _rank_image(model, idx, img, query, score_thr)
        seen += 1
        if bar is not None:
            bar.update()
    if seen == 0:
        raise SearchInputError('the gallery is empty')
    matches.sort(key=lambda m: m.similarity, reverse=True)
    return matches if topk is None else matches[:topk]


def _rank_image(model: nn.Module, idx: int, img: ImageType, query: Tensor,
                score_thr: float) -> List[SearchMatch]:
    """The detections of one gallery image with their similarities."""
    pred = _detect(model, img, name=_gallery_name(img, idx))
    keep = pred.scores >= score_thr
    sims = pred.embeddings[keep] @ query.to(pred.embeddings)
    return [
        SearchMatch(idx, box, float(score), float(sim))
        for box, score, sim in zip(pred.bboxes[keep].numpy(),
                                   pred.scores[keep].tolist(), sims.tolist())
    ]


def _gallery_name(img: ImageType, idx: int) -> str:
    return str(img) if isinstance(img, (str, Path)) else f'gallery image {idx}'


def _detect(model: nn.Module, img: ImageType,
            name: Optional[str] = None) -> InstanceData:
    """Detections of one gallery image, boxes clipped to the image."""
    pred, (height, width) = _predict(
        model, img, instances=[], is_query=False, name=name)
    pred.bboxes[:, 0::2] = pred.bboxes[:, 0::2].clamp(0, width)
    pred.bboxes[:, 1::2] = pred.bboxes[:, 1::2].clamp(0, height)
    return pred


def _predict(model: nn.Module,
             img: ImageType,
             instances: List[dict],
             is_query: bool,
             check_box: Optional[List[float]] = None,
             name: Optional[str] = None) -> Tuple[InstanceData, tuple]:
    """Run one image through the test pipeline and ``model.test_step``.

    Returns its ``pred_instances`` (on the CPU) and its original (h, w).
    ``check_box``: a query box validated against the loaded image.
    """
    from_ndarray = isinstance(img, np.ndarray)
    name = name or _image_name(img)
    pipeline = build_test_pipeline(model.cfg, from_ndarray)
    results = dict(img_id=0, instances=instances, is_query=is_query,
                   query_ann_id=-1, cam_id=-1)
    if from_ndarray:
        results['img'] = _check_array(img, name)
    else:
        results['img_path'] = str(img)
    results = _load_image(pipeline.transforms[0], results, name)
    if check_box is not None:
        check_query_box(check_box, results['ori_shape'], name)
    data = Compose(pipeline.transforms[1:])(results)
    data = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        sample = model.test_step(data)[0]
    return sample.pred_instances.detach().cpu(), tuple(sample.ori_shape)


def _image_name(img: ImageType) -> str:
    return 'the image array' if isinstance(img, np.ndarray) else str(img)


def _load_image(loader, results: dict, name: str) -> dict:
    """Apply the pipeline's loading transform; errors name the image."""
    try:
        loaded = loader(results)
    except Exception as e:  # any decoder / file-backend failure
        raise SearchInputError(f'cannot read image {name}: {e}') from e
    if loaded is None or loaded.get('img') is None:
        raise SearchInputError(f'cannot read image {name}')
    return loaded


def _check_array(img: np.ndarray, name: str) -> np.ndarray:
    """A BGR (H, W, 3) array; grayscale (H, W) is converted."""
    if img.ndim == 2:
        img = mmcv.gray2bgr(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise SearchInputError(
            f'{name}: expected an (H, W, 3) BGR image array, got shape '
            f'{img.shape}')
    return img


def check_query_box(bbox: Sequence[float], img_shape: Tuple[int, int],
                    name: str) -> None:
    """Raise :class:`SearchInputError` unless ``bbox`` [x1, y1, x2, y2] is a
    positive-size box inside an image of shape (h, w)."""
    height, width = img_shape[:2]
    where = f'query box {list(bbox)} of {name} ({width}x{height})'
    if len(bbox) != 4 or not np.all(np.isfinite(bbox)):
        raise SearchInputError(f'{where}: expected 4 finite numbers '
                               '[x1, y1, x2, y2]')
    x1, y1, x2, y2 = bbox
    if x2 <= x1 or y2 <= y1:
        raise SearchInputError(f'{where} has a non-positive size '
                               '(need x2 > x1 and y2 > y1)')
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise SearchInputError(f'{where} lies outside the image')


def _is_single_image(imgs) -> bool:
    return isinstance(imgs, (str, Path, np.ndarray))
