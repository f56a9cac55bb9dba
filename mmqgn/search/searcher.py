"""One searcher for the search API, the demo and the query-major test loop.

:class:`Searcher` ranks gallery images against one query at a time with one
of two strategies, chosen by the model's kind:

- **embedding** (OIM, SeqNeXt, any :class:`PersonSearchDetector`): the query
  box's embedding once, then per gallery batch ``predict`` (detections with
  embeddings); the similarity of a detection is its dot product with the
  query embedding (cosine, or CWS when the model weights embeddings);
- **pair** (a :class:`QueryGuidedDetector`: QGN / QEEPS, ...): the query
  code once (``encode_query``), each gallery image's code once
  (``encode_gallery``, LRU-cached across queries by image id), then
  ``predict_pairs``; the similarity is the pair ``sims``. With
  ``reuse=False`` every pair runs :func:`pair_forward` on the items (the
  reference forward).

With a Gallery Filter Network the search is two-phase (:mod:`.gfn`): the
scene embeddings (cached by image id) are scored against the query and
only scenes scoring >= the threshold are detected. Items are pipeline
outputs ``dict(inputs, data_samples)``; a gallery image is given as
``(key, load)`` with ``load()`` returning its item (called only when the
item is needed) and ``key`` its image id (None: never cached).
"""
from contextlib import contextmanager
from typing import (Callable, Hashable, List, Optional, Sequence, Tuple,
                    Union)

import torch
from mmengine.runner.amp import autocast
from torch import Tensor

from mmqgn.models.data_preprocessors import plain_batch
from mmqgn.models.detectors import QueryGuidedDetector, pair_forward
from .cache import LRUCache
from .gfn import (FROM_CONFIG, gfn_scores, make_scene_filter,
                  resolve_gfn_thr, two_phase_predict)

GalleryImage = Tuple[Optional[Hashable], Callable[[], dict]]


class Searcher:
    """Search one query at a time (see the module docstring).

    Args:
        model: the unwrapped model (eval mode).
        gfn_thr (float | None | 'config'): GFN filter threshold (see
            :func:`resolve_gfn_thr`); None: weighting only.
        reuse (bool): pair strategy: use the model's codes (False: the
            reference pair forward of the items).
        code_cache_size (int): gallery codes kept (LRU).
        scene_cache_size (int): gallery scene embeddings kept (LRU).
        fp16 (bool): autocast the forwards.
    """

    def __init__(self,
                 model,
                 gfn_thr: Union[float, None, str] = FROM_CONFIG,
                 reuse: bool = True,
                 code_cache_size: int = 64,
                 scene_cache_size: int = 65536,
                 fp16: bool = False) -> None:
        self.model = model
        self.pairs = isinstance(model, QueryGuidedDetector)
        self.with_gfn = model.with_gfn
        self.gfn_thr = resolve_gfn_thr(model, gfn_thr)
        self.reuse = reuse and self.pairs
        self.fp16 = fp16
        self.codes = LRUCache(size=code_cache_size if self.reuse else 0)
        self.scenes = LRUCache(size=scene_cache_size)
        self.query_item = None
        self.query_ann_id = -1
        self.query_code = None
        self.embedding = None
        self.gfn_query = None

    @contextmanager
    def _forward(self):
        with torch.no_grad(), autocast(enabled=self.fp16):
            yield

    # ------------------------------------------------------------ query
    def set_query(self, item: dict, query_ann_id: int = -1) -> None:
        """Encode the query (a query item: its box as the only GT box)."""
        self.query_item, self.query_ann_id = item, int(query_ann_id)
        with self._forward():
            if self.pairs:
                self.query_code = self.model.encode_query(item) \
                    if self.reuse else item
                if self.with_gfn:
                    record = self.model.gfn_query(item)
                    self.gfn_query = {k: v.float() for k, v in record.items()}
                return
            sample = self.model.test_step(plain_batch([item]))[0]
        self.embedding = sample.pred_instances.embeddings[0]
        if self.with_gfn:
            self.gfn_query = dict(embedding=self.embedding,
                                  scene_embedding=sample.scene_embedding)

    # -------------------------------------------------------------- GFN
    def scene_embedding(self, image: GalleryImage) -> Tensor:
        """(D,) scene embedding of one gallery image (the image alone),
        cached by key."""
        key, load = image
        return self.scenes.get(key, lambda: self._scene(load()))

    def _scene(self, item: dict) -> Tensor:
        with self._forward():
            if self.pairs:
                return self.model.gfn_scene(item).float()
            data = self.model.data_preprocessor(plain_batch([item]), False)
            return self.model.scene_embedding(
                data['inputs'], data['data_samples'])[0].float()

    def gfn_scores(self, images: Sequence[GalleryImage]) -> Tensor:
        """GFN scores (G,) of the query against gallery images."""
        if len(images) == 0:
            return torch.zeros((0, ))
        scenes = torch.stack([self.scene_embedding(im) for im in images])
        with self._forward():
            return gfn_scores(self.model, self.gfn_query, scenes).float()

    def keep(self, scores: Tensor) -> List[bool]:
        """Phase-2 mask of GFN scores: >= the threshold (all without)."""
        if self.gfn_thr is None:
            return [True] * len(scores)
        return (scores >= self.gfn_thr).tolist()

    # ---------------------------------------------------------- predict
    def predict(self,
                images: Sequence[GalleryImage],
                query_item: Optional[dict] = None) -> list:
        """Predicted gallery samples of the images (no GFN filtering):
        pair samples with ``sims``, or detections with ``embeddings``.
        ``query_item`` replaces the stored query item of the reference pair
        forward (the naive loop decodes the query for every pair)."""
        with self._forward():
            if not self.pairs:
                return self.model.test_step(
                    plain_batch([load() for _, load in images]))
            if not self.reuse:
                return pair_forward(self.model, query_item or self.query_item,
                                    [load() for _, load in images],
                                    self.query_ann_id)
            codes = [
                self.codes.get(key,
                               lambda load=load: self.model.encode_gallery(
                                   load())) for key, load in images
            ]
            return self.model.predict_pairs(self.query_code, codes,
                                            self.query_ann_id)

    def search(self, images: Sequence[GalleryImage]
               ) -> Tuple[list, Optional[Tensor]]:
        """Two-phase search of a gallery batch -> (per image its predicted
        sample, or None when the GFN filtered it out; GFN scores (B,) or
        None without a GFN)."""
        if not self.with_gfn:
            return self.predict(images), None
        if not self.pairs:
            return self._embedding_search([load() for _, load in images])
        scores = self.gfn_scores(images).cpu()
        keep = self.keep(scores)
        kept = [im for im, k in zip(images, keep) if k]
        preds = iter(self.predict(kept) if kept else [])
        return [next(preds) if k else None for k in keep], scores

    def _embedding_search(self, items: List[dict]) -> Tuple[list, Tensor]:
        """One backbone pass (:func:`two_phase_predict`): scene embeddings,
        then the heads on the kept scenes only."""
        model = self.model
        scene_filter = None if self.gfn_thr is None else make_scene_filter(
            model, self.gfn_query, self.gfn_thr)
        with self._forward():
            data = model.data_preprocessor(plain_batch(items), False)
            samples = two_phase_predict(model, data['inputs'],
                                        data['data_samples'], scene_filter)
            scores = gfn_scores(model, self.gfn_query, samples).cpu()
        return [None if s.get('gfn_skipped', False) else s
                for s in samples], scores
