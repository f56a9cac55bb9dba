"""Person-search inference on images (after ``mmdet.apis.inference``).

Two kinds of searcher (mmqgn detectors) are handled:

- **embedding form** (OIM, SeqNeXt, ...): ``predict`` gives, per image,
  ``pred_instances`` with ``bboxes`` (N, 4) x1y1x2y2 in original pixels,
  ``scores`` (N,) and L2-normalised ``embeddings`` (N, D); for a query image
  (metainfo ``is_query=True``, the query box as its only ground-truth box) it
  gives that box and its embedding. Gallery persons are ranked by the dot
  product with the query embedding.
- **query-guided** (QGN / QEEPS, class attribute ``query_guided = True``):
  every gallery image is run jointly with the query (a pair batch of
  ``mmqgn.engine.loops.pair_batch``); the model's pair ``sims`` (QSimNet
  ``p_same``, or cosine) rank the detections.

With a Gallery Filter Network (``model.with_gfn``, gfn_seqnext.md §3.1,
§8.1 decision 3) the search is two-phase: phase 1 scores every gallery
scene against the query (``gfn_scores``), phase 2 detects persons only in
the scenes scoring ``>= gfn_thr`` (all of them when ``gfn_thr`` is None);
the similarities are weighted by the scene's GFN score,
``s = sim * sigmoid(s_gfn / alpha)``.

Images are file paths or BGR ``ndarray``s (as ``mmcv.imread`` returns them)
and go through the test pipeline of the config, ``LoadImageFromFile``
replaced by ``LoadImageFromNDArray`` for arrays.
"""
import copy
from collections.abc import Sized
from itertools import islice
from pathlib import Path
from typing import (Callable, Dict, Iterable, Iterator, List, NamedTuple,
                    Optional, Sequence, Tuple, Union)

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

from mmqgn.engine.loops.query_major_loop import pair_batch
from mmqgn.models.detectors.gfn_wrapper import config_filter_thr as \
    config_gfn_thr  # noqa: F401 (public: mmqgn.apis.config_gfn_thr)
from mmqgn.models.detectors.gfn_wrapper import (gfn_scores,
                                                weight_similarities)

ImageType = Union[str, Path, np.ndarray]
#: ``gfn_thr`` default of :func:`search`: ``model.test_cfg.gfn.filter_thr``.
FROM_CONFIG = 'config'


class SearchInputError(ValueError):
    """Bad input to the search API (a box, an image, an empty gallery); the
    message names the image or box at fault."""


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


# ------------------------------------------------------------ model kinds
def is_query_guided(model: nn.Module) -> bool:
    """True for a query-guided searcher (QGN / QEEPS: pair forwards)."""
    return bool(getattr(model, 'query_guided', False))


def has_gfn(model: nn.Module) -> bool:
    """True for a searcher with a Gallery Filter Network."""
    return bool(getattr(model, 'with_gfn', False))


def _resolve_gfn_thr(model: nn.Module, gfn_thr) -> Optional[float]:
    if isinstance(gfn_thr, str):
        if gfn_thr != FROM_CONFIG:
            raise SearchInputError(f'gfn_thr must be a number, None or '
                                   f'{FROM_CONFIG!r}, got {gfn_thr!r}')
        return config_gfn_thr(model) if has_gfn(model) else None
    if gfn_thr is not None and not has_gfn(model):
        raise SearchInputError(f'gfn_thr={gfn_thr} needs a model with a '
                               'Gallery Filter Network (model.gfn is None)')
    return None if gfn_thr is None else float(gfn_thr)


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
    item = _Loader(model).query(img, bbox)
    return _run(model, [item])[0].pred_instances.embeddings[0].detach().cpu()


def extract_gfn_query(model: nn.Module, img: ImageType,
                      bbox: Sequence[float]) -> Dict[str, Tensor]:
    """The GFN query record of a query person (gfn_seqnext.md §3.1):
    ``dict(embedding=(D,), scene_embedding=(D,))`` on the model's device,
    the input of :func:`gfn_scores`. Embedding models: the query person
    embedding and its scene embedding from one ``predict``; query-guided
    models: ``model.query_gfn_embeddings`` (query-independent pass)."""
    _need_gfn(model)
    return _gfn_query(model, _Loader(model).query(img, bbox))


def extract_scene_embeddings(model: nn.Module,
                             imgs: Iterable[ImageType],
                             batch_size: int = 1) -> Tensor:
    """Unit scene embeddings (G, D) of gallery images (backbone + GFN only,
    no detection; for query-guided models a query-independent pass), on
    the CPU, so that they can be cached across queries."""
    _need_gfn(model)
    loader = _Loader(model)
    out = [
        _scenes(model, [loader.gallery(img, idx) for idx, img in chunk])
        for chunk in _chunks(enumerate(imgs), batch_size)
    ]
    if not out:
        raise SearchInputError('no gallery image given')
    return torch.cat(out).cpu()


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
    loader = _Loader(model)
    if _is_single_image(imgs):
        return _clipped(_run(model, [loader.gallery(imgs)])[0])
    return [_clipped(_run(model, [loader.gallery(img)])[0]) for img in imgs]


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
           stats: Optional[dict] = None) -> List[SearchMatch]:
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
            (scenes filtered out by the GFN), ``gfn_thr`` and
            ``gfn_scores`` (per gallery image; empty without a GFN).

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
    thr = _resolve_gfn_thr(model, gfn_thr)
    loader = _Loader(model)
    ranker = _Ranker(model, loader.query(query_img, query_bbox), score_thr,
                     thr)
    bar = ProgressBar(len(gallery_imgs) if sized else 0) if progress else None
    matches = []
    for chunk in _chunks(enumerate(gallery_imgs), batch_size):
        items = [loader.gallery(img, idx) for idx, img in chunk]
        matches += ranker.rank([idx for idx, _ in chunk], items)
        if bar is not None:
            bar.update(len(chunk))
    if ranker.num_scenes == 0:
        raise SearchInputError('the gallery is empty')
    if stats is not None:
        stats.update(ranker.stats())
    matches.sort(key=lambda m: m.similarity, reverse=True)
    return matches if topk is None else matches[:topk]


class _Ranker:
    """Ranks the gallery batches of one query (embedding or pair form,
    with or without GFN filtering)."""

    def __init__(self, model: nn.Module, query: dict, score_thr: float,
                 gfn_thr: Optional[float]) -> None:
        self.model = model
        self.query = query
        self.score_thr = score_thr
        self.gfn_thr = gfn_thr
        self.pairs = is_query_guided(model)
        self.embedding = None
        self.gfn_query = _gfn_query(model, query) if has_gfn(model) else None
        if not self.pairs:
            self.embedding = self._query_embedding()
        self.num_scenes = 0
        self.num_skipped = 0
        self.gfn_scores: List[float] = []

    def _query_embedding(self) -> Tensor:
        if self.gfn_query is not None:
            return self.gfn_query['embedding']
        return _run(self.model, [self.query])[0].pred_instances.embeddings[0]

    def stats(self) -> dict:
        return dict(num_scenes=self.num_scenes, num_skipped=self.num_skipped,
                    gfn_thr=self.gfn_thr, gfn_scores=list(self.gfn_scores))

    @torch.no_grad()
    def rank(self, indices: List[int], items: List[dict]) -> List[SearchMatch]:
        """Matches of one gallery batch (``indices``: gallery positions)."""
        self.num_scenes += len(items)
        if self.pairs:
            samples, scores = self._pair_forward(items)
        else:
            samples, scores = self._embedding_forward(items)
        if scores is not None:
            self.gfn_scores += scores.tolist()
        matches = []
        for b, (idx, sample) in enumerate(zip(indices, samples)):
            if sample is None or getattr(sample, 'gfn_skipped', False):
                self.num_skipped += 1
                continue
            gfn = None if scores is None else float(scores[b])
            matches += self._matches(idx, sample, gfn)
        return matches

    def _embedding_forward(self, items: List[dict]) -> tuple:
        """One ``predict`` (backbone once; with a threshold, the heads only
        on the kept scenes) -> (samples, GFN scores (B,) or None)."""
        scene_filter = None if self.gfn_thr is None else \
            self.model.make_scene_filter(self.gfn_query, self.gfn_thr)
        samples = _run(self.model, items, scene_filter)
        if self.gfn_query is None:
            return samples, None
        scenes = torch.stack([s.scene_embedding for s in samples])
        return samples, gfn_scores(self.model, self.gfn_query, scenes).cpu()

    def _pair_forward(self, items: List[dict]) -> tuple:
        """GFN scores on the plain gallery images (query-independent pass),
        then the pair forward of the kept ones -> (B samples, None for a
        skipped scene; GFN scores (B,) or None)."""
        scores, keep = None, [True] * len(items)
        if self.gfn_query is not None:
            scores = gfn_scores(self.model, self.gfn_query,
                                _scenes(self.model, items)).cpu()
            if self.gfn_thr is not None:
                keep = (scores >= self.gfn_thr).tolist()
        kept = [item for item, k in zip(items, keep) if k]
        preds = iter(_run_pairs(self.model, self.query, kept) if kept else [])
        return [next(preds) if k else None for k in keep], scores

    def _matches(self, idx: int, sample,
                 gfn: Optional[float]) -> List[SearchMatch]:
        pred = _clipped(sample)
        keep = pred.scores >= self.score_thr
        if self.pairs:
            sims = pred.sims[keep]
        else:
            sims = pred.embeddings[keep] @ self.embedding.cpu().to(
                pred.embeddings)
        if gfn is not None:
            sims = weight_similarities(sims, gfn)
        return [
            SearchMatch(idx, box, float(score), float(sim), gfn)
            for box, score, sim in zip(pred.bboxes[keep].numpy(),
                                       pred.scores[keep].tolist(),
                                       sims.tolist())
        ]


# ------------------------------------------------------------- forwards
def _batch(items: List[dict]) -> dict:
    """A collated plain batch; the data samples are copied (the model
    writes into them), the input tensors shared."""
    return dict(inputs=[it['inputs'] for it in items],
                data_samples=[copy.deepcopy(it['data_samples'])
                              for it in items])


@torch.no_grad()
def _run(model: nn.Module,
         items: List[dict],
         scene_filter: Optional[Callable[[Tensor], Tensor]] = None) -> list:
    """Plain (non-pair) batch of pipeline outputs -> predicted samples
    (``model.test_step``; ``scene_filter`` goes to ``predict``)."""
    data = _batch(items)
    if scene_filter is None:
        return model.test_step(data)
    data = model.data_preprocessor(data, False)
    return model.predict(data['inputs'], data['data_samples'],
                         scene_filter=scene_filter)


@torch.no_grad()
def _run_pairs(model: nn.Module, query: dict, galleries: List[dict]) -> list:
    """The query paired with each gallery item (one pair batch) -> the
    predicted gallery samples (``pred_instances`` with ``sims``)."""
    return model.test_step(pair_batch(query, galleries, query_ann_id=-1))


@torch.no_grad()
def _scenes(model: nn.Module, items: List[dict]) -> Tensor:
    """Scene embeddings (B, D) of plain gallery images."""
    data = model.data_preprocessor(_batch(items), False)
    return model.scene_embedding(data['inputs'], data['data_samples'])


@torch.no_grad()
def _gfn_query(model: nn.Module, query: dict) -> Dict[str, Tensor]:
    """GFN query record ``dict(embedding=(D,), scene_embedding=(D,))``."""
    if is_query_guided(model):
        data = model.data_preprocessor(_batch([query]), False)
        persons, scenes = model.query_gfn_embeddings(data['inputs'],
                                                     data['data_samples'])
        return dict(embedding=persons[0], scene_embedding=scenes[0])
    sample = _run(model, [query])[0]
    return dict(embedding=sample.pred_instances.embeddings[0],
                scene_embedding=sample.scene_embedding)


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


# ---------------------------------------------------------------- loading
class _Loader:
    """Runs images through the model's test pipeline (built once per
    kind: file path or array); errors name the image."""

    def __init__(self, model: nn.Module) -> None:
        self.cfg = model.cfg
        self._pipelines: Dict[bool, Compose] = {}

    def pipeline(self, from_ndarray: bool) -> Compose:
        if from_ndarray not in self._pipelines:
            self._pipelines[from_ndarray] = build_test_pipeline(
                self.cfg, from_ndarray)
        return self._pipelines[from_ndarray]

    def query(self, img: ImageType, bbox: Sequence[float]) -> dict:
        """Pipeline output of a query image with its box as the only
        ground-truth box (``is_query=True``)."""
        try:
            bbox = [
                float(v) for v in np.asarray(bbox, dtype=np.float64).ravel()
            ]
        except (TypeError, ValueError) as e:
            raise SearchInputError(f'query box {bbox!r}: expected 4 numbers '
                                   '[x1, y1, x2, y2]') from e
        instance = dict(bbox=bbox, bbox_label=0, ignore_flag=0,
                        person_id=-1, person_label=-1)
        return self.load(img, [instance], True, check_box=bbox)

    def gallery(self, img: ImageType, idx: Optional[int] = None) -> dict:
        """Pipeline output of a gallery image."""
        name = None if idx is None else _gallery_name(img, idx)
        return self.load(img, [], False, name=name)

    def load(self,
             img: ImageType,
             instances: List[dict],
             is_query: bool,
             check_box: Optional[List[float]] = None,
             name: Optional[str] = None) -> dict:
        """``dict(inputs, data_samples)`` of one image; ``check_box``: a
        query box validated against the loaded image."""
        from_ndarray = isinstance(img, np.ndarray)
        name = name or _image_name(img)
        pipeline = self.pipeline(from_ndarray)
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
        return dict(inputs=data['inputs'], data_samples=data['data_samples'])


def _gallery_name(img: ImageType, idx: int) -> str:
    return str(img) if isinstance(img, (str, Path)) else f'gallery image {idx}'


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
