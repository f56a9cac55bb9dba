"""The query-gallery pair batch of the query-guided detectors (qgn_qeeps.md
§9.2, decision T5).

A collated pair batch (one pair = one dataset item, see
``mmqgn/datasets/pair_dataset.py``) has
``inputs = dict(query=[B x (3, Hq, Wq)], gallery=[B x (3, Hg, Wg)])`` and the
same structure of data samples; :class:`PairDataPreprocessor` flattens it to
``inputs`` (2B, 3, H, W) = cat([queries, galleries]) (normalised, padded to
one size) with 2B data samples, queries first: pair b = (b, B + b), the
stacked convention of ``QSSEResNet.forward(x)``. :func:`pair_batch` builds
such a batch from pipeline outputs at test time, :func:`plain_batch` a
plain (non-pair) one.
"""
import copy
from typing import Sequence

from mmdet.models.data_preprocessors import DetDataPreprocessor

from mmqgn.registry import MODELS


@MODELS.register_module()
class PairDataPreprocessor(DetDataPreprocessor):
    """``DetDataPreprocessor`` for query-gallery pair batches.

    A batch whose ``inputs`` is ``dict(query=[...], gallery=[...])`` (the
    pseudo-collated pair items) is flattened, queries first, and then
    processed as usual (one padded (2B, 3, H, W) tensor, 2B data samples).
    Any other batch passes to ``DetDataPreprocessor`` unchanged.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, dict):
            samples = data.get('data_samples') or {}
            data = dict(
                inputs=list(inputs['query']) + list(inputs['gallery']),
                data_samples=list(samples.get('query', [])) +
                list(samples.get('gallery', [])) or None)
        return super().forward(data, training)


def split_pairs(batch: Sequence) -> tuple:
    """2B items (a list or a tensor, queries first) -> (B queries,
    B galleries)."""
    assert len(batch) % 2 == 0, 'expected cat([queries, galleries])'
    half = len(batch) // 2
    return batch[:half], batch[half:]


def pair_batch(query: dict, galleries: Sequence[dict],
               query_ann_id: int) -> dict:
    """One query pipeline output and B gallery outputs -> a collated pair
    batch ``dict(inputs=dict(query=[B], gallery=[B]), data_samples=...)``.

    Data samples are copied (the model writes into them) and the gallery
    samples get the pair's ``query_ann_id``; input tensors are shared.
    """
    gal_samples = []
    for item in galleries:
        sample = copy.deepcopy(item['data_samples'])
        sample.set_metainfo(
            dict(query_ann_id=int(query_ann_id), is_query=False))
        gal_samples.append(sample)
    n = len(galleries)
    return dict(inputs=dict(query=[query['inputs']] * n,
                            gallery=[item['inputs'] for item in galleries]),
                data_samples=dict(query=[
                    copy.deepcopy(query['data_samples']) for _ in range(n)
                ],
                                  gallery=gal_samples))


def plain_batch(items: Sequence[dict]) -> dict:
    """Pipeline outputs -> a collated plain batch; the data samples are
    copied (the model writes into them), the input tensors shared."""
    return dict(inputs=[it['inputs'] for it in items],
                data_samples=[copy.deepcopy(it['data_samples'])
                              for it in items])
