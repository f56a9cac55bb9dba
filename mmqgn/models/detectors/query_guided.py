"""The interface of a query-guided person-search model (qgn_qeeps.md §9).

A query-guided model (QGN / QEEPS, IGPN, ...) scores a gallery image only
jointly with a query, so it cannot be tested by mmengine's ``TestLoop``
(one image at a time) nor searched by ranking embeddings. The searcher
(:mod:`mmqgn.search`), which both ``mmqgn.apis.search`` and
:class:`QueryMajorTestLoop` use, calls only the methods declared here.

Items are pipeline outputs, ``dict(inputs=(3, H, W) uint8 tensor,
data_samples=DetDataSample)``; a query item's ``gt_instances`` hold the
query box (1, 4) in input pixels and its metainfo ``is_query=True``.

The model must implement :meth:`predict` on the flattened pair batch (the
convention of :mod:`mmqgn.models.data_preprocessors`); that alone makes it
searchable. What may be reused across pairs is the model's to say, by
overriding the three ``*_code`` / ``predict_pairs`` methods: their defaults
reuse nothing (every pair runs the whole model through ``test_step``).
With a Gallery Filter Network (``with_gfn``), :meth:`gfn_query` and
:meth:`gfn_scene` give the query-independent inputs of two-phase search.
"""
from abc import ABCMeta, abstractmethod
from typing import Any, Dict, Sequence

from mmdet.structures import SampleList
from torch import Tensor

from ..data_preprocessors import pair_batch


def pair_forward(model, query: dict, galleries: Sequence[dict],
                 query_ann_id: int) -> SampleList:
    """The reference pair forward: the query item paired with each gallery
    item, one pair batch through ``model.test_step`` -> B predicted gallery
    samples (see :meth:`QueryGuidedDetector.predict_pairs`)."""
    return model.test_step(pair_batch(query, galleries, query_ann_id))


class QueryGuidedDetector(metaclass=ABCMeta):
    """Mix-in declaring what a query-guided model provides (see module)."""

    @abstractmethod
    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Flattened pair batch: inputs (2B, 3, H, W) and 2B samples, the B
        queries first -> the B gallery samples with ``pred_instances``:
        ``bboxes`` (N, 4) in original pixels, ``scores`` (N,) person score,
        ``sims`` (N,) query similarity (the ranking score), ``labels`` (N,);
        metainfo keeps ``img_id``, ``query_ann_id``, ``is_query=False``."""

    def encode_query(self, item: dict) -> Any:
        """A query item -> its query code: what of the query does not
        depend on the gallery image (computed once per query). Default: the
        item itself (nothing reused)."""
        return item

    def encode_gallery(self, item: dict) -> Any:
        """A gallery item -> its gallery code: what of the image does not
        depend on the query (the searcher caches it across queries, keyed
        by image id; it must not depend on other images). Default: the
        item itself (nothing reused)."""
        return item

    def predict_pairs(self, query: Any, galleries: Sequence[Any],
                      query_ann_id: int) -> SampleList:
        """A query code and B gallery codes -> the B predicted gallery
        samples, as :meth:`predict` (``query_ann_id`` set in their
        metainfo). Default: :func:`pair_forward` of the items."""
        return pair_forward(self, query, galleries, query_ann_id)

    @property
    def with_gfn(self) -> bool:
        """Whether the model has a Gallery Filter Network (two-phase search
        then needs :meth:`gfn_query`, :meth:`gfn_scene` and ``gfn.score``)."""
        return False

    def gfn_query(self, item: dict) -> Dict[str, Tensor]:
        """A query item -> ``dict(embedding=(D,), scene_embedding=(D,))``,
        the GFN query record, independent of any gallery image."""
        raise NotImplementedError(f'{type(self).__name__} has no GFN')

    def gfn_scene(self, item: dict) -> Tensor:
        """A gallery item -> its (D,) unit scene embedding, independent of
        the query and of other images (cached across queries)."""
        raise NotImplementedError(f'{type(self).__name__} has no GFN')
