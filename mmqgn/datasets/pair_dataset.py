"""Query-gallery pairs for training the query-guided detectors (QGN, QEEPS).

qgn_qeeps.md §8.3 / decision T4: every item is an image-level positive, a
query frame with the box of a labelled person and another frame (the gallery)
that contains the same person. CUHK-SYSU: all ordered pairs (i, j), i != j,
of frames sharing a labelled identity; PRW: ``pairs_per_query`` galleries per
labelled box (3 in the papers), re-drawn every epoch from ``(seed, epoch)``
(:meth:`PersonSearchPairDataset.set_epoch`, called by
``mmqgn.engine.PairResampleHook``), so runs are reproducible and resumable.

Flip (QEEPS / QGN: "flip both query and gallery image"):

- ``flip_doubling=True`` (T4, py-faster-rcnn style): the pair list is
  doubled, every pair once unflipped and once with BOTH images flipped; the
  pipeline's ``RandomFlip`` transforms are forced to that decision.
- ``flip_doubling=False``: random flips, one decision per pair. The gallery
  is processed first inside mmcv's ``cache_random_params``, so every
  ``@cache_randomness`` choice (the ``RandomFlip`` direction, a
  ``RandomChoiceResize`` scale) is replayed on the query.

In both modes transforms that draw random numbers without
``cache_randomness`` are NOT shared.

Item format (the pair batch convention; ``PairDataPreprocessor`` in
``mmqgn/models/detectors/qgn.py`` flattens it)::

    dict(inputs=dict(query=(3, Hq, Wq) uint8, gallery=(3, Hg, Wg) uint8),
         data_samples=dict(query=DetDataSample, gallery=DetDataSample))

The query sample has ``is_query=True`` and its box as the only instance
(``gt_instances.bboxes`` (1, 4), ``person_labels`` (1,)); the gallery sample
has ``is_query=False``, ``query_ann_id`` = the query annotation id and all
persons of the frame.
"""
import copy
from collections import defaultdict
from typing import List, Optional

import numpy as np
from mmcv.transforms import RandomFlip
from mmcv.transforms.utils import cache_random_params

from mmqgn.registry import DATASETS
from .person_search import PersonSearchDataset


def enumerate_pairs(scenes: List[dict],
                    pairs_per_query: Optional[int] = None,
                    seed: int = 0,
                    epoch: int = 0) -> List[dict]:
    """Same-person (query, gallery) pairs over scene infos.

    Args:
        scenes: infos with ``instances`` carrying ``person_label`` (>= 0 for
            labelled persons).
        pairs_per_query: None: every other frame of the identity (ordered
            pairs); n: at most n of them, drawn without replacement.
        seed, epoch: the draw uses ``np.random.default_rng([seed, epoch])``.

    Returns:
        list of dict(query_scene, query_instance, gallery_scene,
        person_label), in a deterministic order. Its length does not depend
        on ``seed`` or ``epoch``.
    """
    frames = defaultdict(list)  # person label -> [(scene, instance)]
    for s, scene in enumerate(scenes):
        for k, inst in enumerate(scene['instances']):
            if inst['person_label'] >= 0:
                frames[inst['person_label']].append((s, k))
    rng = np.random.default_rng([seed, epoch])
    pairs = []
    for label in sorted(frames):
        scene_ids = sorted({s for s, _ in frames[label]})
        for s, k in frames[label]:
            galleries = [g for g in scene_ids if g != s]
            if pairs_per_query is not None and len(galleries) > \
                    pairs_per_query:
                galleries = sorted(
                    rng.choice(galleries, pairs_per_query,
                               replace=False).tolist())
            pairs += [
                dict(query_scene=s, query_instance=k, gallery_scene=g,
                     person_label=label) for g in galleries
            ]
    return pairs


def forced_flip_pipeline(pipeline, flip: bool):
    """A copy of ``pipeline`` whose ``RandomFlip`` transforms always
    (``flip=True``) or never flip."""
    forced = copy.deepcopy(pipeline)
    flips = [t for t in forced.transforms if isinstance(t, RandomFlip)]
    if not flips:
        raise ValueError('flip_doubling=True needs a RandomFlip in the '
                         f'pair dataset pipeline, got {pipeline}')
    for t in flips:
        if isinstance(t.direction, (list, tuple)):
            t.direction = t.direction[0]
        t.prob = 1.0 if flip else 0.0
    return forced


@DATASETS.register_module()
class PersonSearchPairDataset(PersonSearchDataset):
    """Training pairs over a standardized person-search annotation file.

    Args:
        pairs_per_query (int, optional): galleries per query box; None (the
            CUHK-SYSU recipe) uses all. 3 for PRW (re-drawn every epoch).
        seed (int): seed of the gallery draw. Defaults to 0.
        flip_doubling (bool): every pair twice, unflipped and with both
            images flipped (T4); the pipeline must contain a ``RandomFlip``
            (its ``prob`` is then overridden). False: random shared flips.
        **kwargs: :class:`PersonSearchDataset` arguments; ``pipeline`` is the
            single-image pipeline (ending with ``PackPersonSearchInputs``).
            ``test_mode`` is not supported (the query-major test loop uses
            the plain dataset).
    """

    def __init__(self,
                 *args,
                 pairs_per_query: Optional[int] = None,
                 seed: int = 0,
                 flip_doubling: bool = False,
                 **kwargs) -> None:
        assert not kwargs.get('test_mode', False), \
            'PersonSearchPairDataset is for training only'
        self.pairs_per_query = pairs_per_query
        self.seed = seed
        self.epoch = 0
        self.flip_doubling = flip_doubling
        self.scenes: List[dict] = []
        super().__init__(*args, **kwargs)
        self.flip_pipelines = {
            f: forced_flip_pipeline(self.pipeline, f)
            for f in (False, True)
        } if flip_doubling else None

    def load_data_list(self) -> List[dict]:
        """Scene infos go to ``self.scenes`` (read once); the data list holds
        the pairs of ``self.epoch`` (each twice with ``flip_doubling``)."""
        if not self.scenes:
            self.scenes = super().load_data_list()
        pairs = enumerate_pairs(self.scenes, self.pairs_per_query, self.seed,
                                self.epoch)
        if not self.flip_doubling:
            return pairs
        return [dict(p, flip=f) for f in (False, True) for p in pairs]

    def filter_data(self) -> List[dict]:
        """Pairs always contain a person: nothing to filter."""
        return self.data_list

    def set_epoch(self, epoch: int) -> bool:
        """Use the pairs of ``epoch`` (PRW: a new gallery draw per epoch).

        Returns:
            bool: whether the pair list changed (False for
            ``pairs_per_query=None``, whose pairs do not depend on it).
        """
        if epoch == self.epoch:
            return False
        self.epoch = epoch
        if self.pairs_per_query is None or not self._fully_initialized:
            return False
        num = len(self)
        self._fully_initialized = False
        self.full_init()
        assert len(self) == num, 'per-epoch pair draw changed the length'
        return True

    def get_data_info(self, idx: int) -> dict:
        """-> dict(query=<image info>, gallery=<image info>, flip)."""
        pair = super().get_data_info(idx)
        query = copy.deepcopy(self.scenes[pair['query_scene']])
        inst = query['instances'][pair['query_instance']]
        query.update(instances=[inst], is_query=True,
                     query_ann_id=inst['ann_id'])
        gallery = copy.deepcopy(self.scenes[pair['gallery_scene']])
        gallery.update(is_query=False, query_ann_id=inst['ann_id'])
        return dict(query=query, gallery=gallery, sample_idx=idx,
                    flip=pair.get('flip'))

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Both images through the pipeline with shared random decisions;
        None (mmengine then picks another item) if a transform drops one."""
        info = self.get_data_info(idx)
        pipeline = self.pipeline if info['flip'] is None else \
            self.flip_pipelines[info['flip']]
        with cache_random_params(pipeline.transforms):
            gallery = pipeline(info['gallery'])
            query = pipeline(info['query'])
        if gallery is None or query is None:
            return None
        return dict(
            inputs=dict(query=query['inputs'], gallery=gallery['inputs']),
            data_samples=dict(
                query=query['data_samples'],
                gallery=gallery['data_samples']))
