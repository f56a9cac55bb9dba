"""Query-major test loop for the query-guided detectors (qgn_qeeps.md §9).

QGN / QEEPS score a gallery image only jointly with one query, so a retrieval
set of Q queries with galleries of G images costs Q x G pair forwards
(§9.2). :class:`QueryMajorTestLoop` walks the queries of one retrieval set,
runs each query image through the data pipeline once and pairs it with its
expanded gallery (``RetrievalSet.gallery_image_ids``) in batches of
``gallery_batch_size`` (the query replicated, §9.3 engineering note), in the
pair batch format of ``PairDataPreprocessor``. Decoded and resized gallery
images come from a small LRU cache of pipeline outputs keyed by image id.

Models whose BaseNet features do not depend on the partner image (QGN without
QSSE, ``model.pair_independent_feats``: the "+QRPN", "+QSimNet" and
"+QRPN+QSimNet" ablations) get the §9.3 / E1 caching: the query's features
are computed once per query and each gallery image's once (LRU cache of
``feat_cache_size`` images shared by all queries); per pair only QRPN, the
RoI head and QSimNet run. Without QRPN either (``pair_independent_dets``:
the "+QSimNet" ablation) the cache holds each gallery image's detections and
embeddings instead, and per pair only QSimNet (or the cosine) and the final
NMS run. With QSSE nothing of the forward can be reused (§3.4): every pair
runs the whole Siamese network.

Two-phase search with a Gallery Filter Network (gfn_seqnext.md §3.1, §8.1
decision 3; models with ``with_gfn``, e.g. ``QGNWithGFN``): each query's
gallery is first scored by the GFN from query-independent scene embeddings
(computed once per gallery image and cached across queries), and the pair
forward runs only for the images scoring at least the threshold.
"""
import copy
import glob
import os.path as osp
import pickle
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmengine.runner.amp import autocast
from mmengine.utils import ProgressBar

from mmqgn.evaluation.functional import (PersonSearchAnnotations, RetrievalSet,
                                         resolve_retrieval_set)
from mmqgn.models.detectors.gfn_wrapper import config_filter_thr, gfn_scores
from mmqgn.registry import LOOPS

__all__ = [
    'QueryMajorTestLoop', 'PairBatchLoader', 'PipelineCache', 'pair_batch',
    'compact_sample',
    'skipped_sample', 'expanded_pairs', 'read_resume_file'
]

#: ``pred_instances`` fields kept for the metric (embeddings are dropped:
#: pair samples are ranked by ``sims``; this keeps the resume file small).
PRED_KEYS = ('bboxes', 'scores', 'sims', 'labels')


class PipelineCache:
    """LRU cache of pipeline outputs keyed by image id.

    Args:
        load (callable): image id -> pipeline output (called on a miss).
        size (int): number of kept outputs; 0 disables caching.
    """

    def __init__(self, load, size: int) -> None:
        self.load = load
        self.size = int(size)
        self._items: OrderedDict = OrderedDict()

    def __getitem__(self, key):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        item = self.load(key)
        if self.size > 0:
            self._items[key] = item
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        return item

    def __len__(self) -> int:
        return len(self._items)


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


def compact_sample(sample, as_gallery: bool = False) -> dict:
    """A predicted pair sample -> a plain dict of CPU numpy arrays (the form
    ``PersonSearchMetric`` reads and the resume file stores).

    ``as_gallery`` makes it a plain gallery detection record
    (``query_ann_id=-1``, no ``sims``) for the detection metric.
    """
    pred = sample.pred_instances
    inst = {
        k: pred.get(k).detach().cpu().numpy()
        for k in PRED_KEYS if pred.get(k) is not None
    }
    qid = int(sample.metainfo['query_ann_id'])
    if as_gallery:
        inst.pop('sims', None)
        qid = -1
    return dict(img_id=int(sample.metainfo['img_id']),
                query_ann_id=qid,
                is_query=False,
                pred_instances=inst)


def skipped_sample(img_id: int, query_ann_id: int) -> dict:
    """The record of a gallery image whose pair forward was skipped: empty
    predictions (with ``sims`` for a pair, ``query_ann_id >= 0``; without
    for a gallery detection record, ``query_ann_id=-1``)."""
    inst = dict(bboxes=np.zeros((0, 4), np.float32),
                scores=np.zeros((0, ), np.float32),
                labels=np.zeros((0, ), np.int64))
    if query_ann_id >= 0:
        inst['sims'] = np.zeros((0, ), np.float32)
    return dict(img_id=int(img_id),
                query_ann_id=int(query_ann_id),
                is_query=False,
                pred_instances=inst)


class PairBatchLoader:
    """The test dataloader with the length of the loop's pair batches, so
    that MMEngine's test log counts ``[batch/total]`` in pair batches (it
    reads ``len(runner.test_dataloader)``). Everything else is the wrapped
    loader's."""

    def __init__(self, loader, num_batches: int) -> None:
        self.loader = loader
        self.num_batches = num_batches

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self):
        return iter(self.loader)

    def __getattr__(self, name: str):
        return getattr(self.loader, name)


@LOOPS.register_module()
class QueryMajorTestLoop(TestLoop):
    """Test loop over the (query, gallery) pairs of one retrieval set.

    The test dataloader's dataset must be a test-mode
    :class:`PersonSearchDataset` whose ``retrieval_sets`` include
    ``retrieval_set`` (it provides the query entries and the gallery
    images); the dataloader itself is not iterated, its dataset's pipeline
    is called directly. The evaluator gets, per batch, the pair samples
    (``query_ann_id``, ``img_id``, ``pred_instances`` bboxes / scores /
    sims) and, for the detection metric, each gallery image's detections
    once as a plain gallery record: those of the pair with the first query
    (in set order) whose gallery lists the image (the detections of a
    query-guided model depend on the query). The evaluator's metric should
    evaluate this retrieval set only.

    Ranks: query i of the set runs on rank ``i % world_size``; the number of
    samples processed over all ranks is the ``size`` given to
    ``evaluator.evaluate`` (which every rank calls).

    Resume: with ``resume_file`` set, every finished query's samples (CPU
    numpy) are appended (pickle) to it (``<resume_file>.rank<r>`` when
    distributed); on restart the queries found in those files are replayed
    into the evaluator instead of being run again (a file written with
    another GFN threshold is refused).

    GFN (models with ``with_gfn``): per query, the query's GFN person and
    scene embeddings (``model.query_gfn_embeddings``, once) are scored
    against the scene embeddings of its gallery images
    (``model.scene_embedding``, one image per forward so that a cached
    embedding does not depend on its batch; LRU cache of
    ``scene_cache_size`` images shared by all queries) with
    :func:`gfn_scores`. Every pair record gets ``gfn_score`` (float) and
    ``gfn_skipped`` (bool); ``sims`` stay unweighted (the metric weights
    them by ``gfn_score``). Images scoring below the threshold get no pair
    forward: their pair record has empty predictions and
    ``gfn_skipped=True``, and if the query owns the image's detection
    record, that record is empty too (the detection metric then counts what
    two-phase search ran; evaluate without a threshold for the detector's
    own detection AP). The skipped share is logged and kept in
    ``gfn_stats``.

    Args:
        runner (Runner): the runner.
        dataloader (DataLoader | dict): the test dataloader.
        evaluator (Evaluator | dict | list): the test evaluator.
        retrieval_set (str): name (resolved like the dataset does) or path.
        gallery_batch_size (int): gallery images per pair batch.
        cache_size (int): gallery pipeline outputs kept (LRU); 0: none.
        resume_file (str, optional): see above.
        naive (bool): one pair per forward, every image decoded for every
            pair (the baseline of the benchmark); ``gallery_batch_size`` and
            ``cache_size`` are then ignored.
        fp16 (bool): autocast the forwards.
        gfn_thr (float, optional): GFN filter threshold; None: the model's
            ``test_cfg.gfn.filter_thr``, and None there too: no filtering
            (scores only). GFN scores are > 0, so 0 keeps every pair.
        scene_cache_size (int): gallery scene embeddings kept (LRU); 0:
            none.
        feat_cache_size (int): gallery images whose BaseNet feature maps
            (models with ``pair_independent_feats``; one R50 C4 map of a
            900x1500 image is ~22 MB) or detections (models with
            ``pair_independent_dets``) are kept (LRU); 0 (or ``naive``)
            runs every pair through the whole model. Cached features are
            computed on each image alone, padded to its own size: equal to
            the pair forward when the query and gallery inputs have one
            size, and otherwise different only near the bottom/right
            borders.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 evaluator,
                 retrieval_set: str = 'G100',
                 gallery_batch_size: int = 8,
                 cache_size: int = 256,
                 resume_file: Optional[str] = None,
                 naive: bool = False,
                 fp16: bool = False,
                 gfn_thr: Optional[float] = None,
                 scene_cache_size: int = 65536,
                 feat_cache_size: int = 64) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        assert gallery_batch_size >= 1, 'gallery_batch_size must be >= 1'
        self.dataset = self.dataloader.dataset
        self.naive = naive
        self.gallery_batch_size = 1 if naive else int(gallery_batch_size)
        self.resume_file = resume_file
        self.rset = self._load_retrieval_set(retrieval_set)
        self.query_index = self._index(is_query=True, key='query_ann_id')
        self.image_index = self._index(is_query=False, key='img_id')
        self.cache = PipelineCache(self._load_gallery,
                                   0 if naive else cache_size)
        self.det_owner = self._detection_owners()
        self._iter = 0
        self.gfn_thr = self._gfn_threshold(gfn_thr)
        self.scene_cache = PipelineCache(self._scene_embedding,
                                         scene_cache_size)
        self.gfn_stats = dict(pairs=0, skipped=0)
        self.feat_cache = None
        if (not naive and feat_cache_size > 0
                and getattr(self.model, 'pair_independent_feats', False)):
            self.feat_cache = PipelineCache(
                lambda img_id: self._gallery_entry(self.cache[img_id]),
                feat_cache_size)
        # decided once: the model's structure does not change while testing
        self.cache_dets = (self.feat_cache is not None
                           and self.model.pair_independent_dets)
        self._query_feats = (None, None)
        self.dataloader = PairBatchLoader(self.dataloader,
                                          self._num_pair_batches())

    # ------------------------------------------------------------ set-up
    def _load_retrieval_set(self, name: str) -> RetrievalSet:
        """The retrieval set over the dataset's annotation file."""
        ds = self.dataset
        path = resolve_retrieval_set(
            name, ds.ann_file, ds.retrieval_dir
            or osp.join(ds.data_root or '', 'retrieval'))
        rset = RetrievalSet(path, PersonSearchAnnotations(ds.ann_file))
        rset.check_nonempty()
        return rset

    def _index(self, is_query: bool, key: str) -> Dict[int, int]:
        """Dataset index of every query (by ann id) or image (by id)."""
        index = {}
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            if bool(info['is_query']) == is_query:
                index.setdefault(int(info[key]), i)
        return index

    @property
    def model(self):
        """The test model (unwrapped from DDP)."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    @property
    def with_gfn(self) -> bool:
        return bool(getattr(self.model, 'with_gfn', False))

    def _gfn_threshold(self, thr: Optional[float]) -> Optional[float]:
        """The loop's ``gfn_thr``, else ``model.test_cfg.gfn.filter_thr``."""
        if thr is None:
            thr = config_filter_thr(self.model)
        if thr is not None and not self.with_gfn:
            raise ValueError(f'QueryMajorTestLoop: GFN threshold {thr} set '
                             f'but {type(self.model).__name__} has no GFN')
        return None if thr is None else float(thr)

    def _detection_owners(self) -> Dict[int, int]:
        """Image id -> the first query (set order) listing it."""
        owner = {}
        for q in range(len(self.rset)):
            for img_id in self.rset.gallery_image_ids(q).tolist():
                owner.setdefault(int(img_id), q)
        return owner

    # ----------------------------------------------------------- loading
    def _pipeline(self, idx: int) -> dict:
        return self.dataset.pipeline(self.dataset.get_data_info(idx))

    def _load_gallery(self, img_id: int) -> dict:
        return self._pipeline(self.image_index[int(img_id)])

    def _load_query(self, ann_id: int) -> dict:
        if ann_id not in self.query_index:
            raise KeyError(f'query ann_id {ann_id} of {self.rset.name} is not '
                           'in the test dataset (add the set to its '
                           'retrieval_sets)')
        return self._pipeline(self.query_index[ann_id])

    def pair_batches(self,
                     q: int,
                     gal_ids: Optional[Sequence[int]] = None,
                     query: Optional[dict] = None) -> Iterator[dict]:
        """The pair batches of query ``q``: its expanded gallery in order, or
        ``gal_ids``; ``query``: its pipeline output if already loaded."""
        qid = int(self.rset.query_ann_ids[q])
        if gal_ids is None:
            gal_ids = self.rset.gallery_image_ids(q).tolist()
        if query is None and not self.naive:
            query = self._load_query(qid)
        step = self.gallery_batch_size
        for start in range(0, len(gal_ids), step):
            chunk = gal_ids[start:start + step]
            if self.naive:
                yield pair_batch(self._load_query(qid),
                                 [self._load_gallery(chunk[0])], qid)
            else:
                yield pair_batch(query, [self.cache[g] for g in chunk], qid)

    # --------------------------------------------------------------- GFN
    def _model_inputs(self, item: dict) -> dict:
        """One pipeline output -> a preprocessed plain batch of one image
        (the data sample is copied: the preprocessor writes into it)."""
        return self.model.data_preprocessor(
            dict(inputs=[item['inputs']],
                 data_samples=[copy.deepcopy(item['data_samples'])]), False)

    def _scene_embedding(self, img_id: int) -> torch.Tensor:
        """(D,) unguided scene embedding of a gallery image (cache loader)."""
        data = self._model_inputs(self.cache[img_id])
        with torch.no_grad(), autocast(enabled=self.fp16):
            scene = self.model.scene_embedding(data['inputs'],
                                               data['data_samples'])
        return scene[0].float()

    def gfn_query_scores(self, query: dict,
                         gal_ids: Sequence[int]) -> torch.Tensor:
        """GFN scores (G,) of one query (its pipeline output) against
        gallery images (ids)."""
        if len(gal_ids) == 0:
            return torch.zeros((0, ))
        data = self._model_inputs(query)
        with torch.no_grad(), autocast(enabled=self.fp16):
            persons, scenes = self.model.query_gfn_embeddings(
                data['inputs'], data['data_samples'])
            gallery = torch.stack([self.scene_cache[g] for g in gal_ids])
            return gfn_scores(
                self.model,
                dict(embedding=persons[0].float(),
                     scene_embedding=scenes[0].float()), gallery).float()

    # --------------------------------------------------------------- run
    def _num_pair_batches(self) -> int:
        """Pair batches of this rank's queries without GFN filtering (the
        log's total; filtering only makes the run shorter)."""
        step = self.gallery_batch_size
        return sum(-(-len(self.rset.gallery_image_ids(q)) // step)
                   for q in self.my_queries())

    def my_queries(self) -> List[int]:
        """Query indices of this rank (query i on rank i % world)."""
        rank, world = get_rank(), get_world_size()
        return list(range(rank, len(self.rset), world))

    def run(self) -> dict:
        """Run the pairs of this rank's queries and evaluate."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        self.test_loss.clear()
        done = self._load_resume()
        self.gfn_stats = dict(pairs=0, skipped=0)
        num_samples = 0
        queries = self.my_queries()
        bar = ProgressBar(len(queries)) if get_rank() == 0 else None
        for q in queries:
            qid = int(self.rset.query_ann_ids[q])
            if qid in done:
                samples = done[qid]
                self.evaluator.process(data_samples=samples, data_batch=None)
            else:
                samples = self.run_query(q)
                self._append_resume(qid, samples)
            num_samples += len(samples)
            self._count_gfn(samples)
            if bar is not None:
                bar.update()
        self._log_gfn()
        metrics = self.evaluator.evaluate(self._global_count(num_samples))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def run_query(self, q: int) -> List[dict]:
        """All pair batches of query ``q`` (with a GFN: of its gallery images
        scoring >= the threshold, the others emitted as skipped); returns the
        samples given to the evaluator (pairs and gallery detection
        records)."""
        if not self.with_gfn:
            return self._run_pairs(q, None)
        qid = int(self.rset.query_ann_ids[q])
        gal_ids = self.rset.gallery_image_ids(q).tolist()
        query = self._load_query(qid)
        scores = self.gfn_query_scores(query, gal_ids).tolist()
        score_of = dict(zip(gal_ids, scores))
        keep = [self.gfn_thr is None or s >= self.gfn_thr for s in scores]
        skipped = self._skipped_records(
            q, [g for g, k in zip(gal_ids, keep) if not k], score_of)
        if skipped:
            self.evaluator.process(data_samples=skipped, data_batch=None)
        run = [g for g, k in zip(gal_ids, keep) if k]
        return skipped + self._run_pairs(q, score_of, run,
                                         None if self.naive else query)

    def _run_pairs(self,
                   q: int,
                   score_of: Optional[Dict[int, float]],
                   gal_ids: Optional[Sequence[int]] = None,
                   query: Optional[dict] = None) -> List[dict]:
        """Pair forwards of query ``q`` over ``gal_ids`` (default: its whole
        gallery); ``score_of``: GFN score per image id, or None."""
        samples, emitted = [], set()
        if gal_ids is not None and not gal_ids:
            return samples
        for data_batch in self.pair_batches(q, gal_ids, query):
            outputs = self.run_iter(self._iter, data_batch)
            self._iter += 1
            batch = [compact_sample(s) for s in outputs]
            if score_of is not None:
                for rec in batch:
                    rec.update(gfn_score=score_of[rec['img_id']],
                               gfn_skipped=False)
            batch += self._detection_records(outputs, q, emitted)
            self.evaluator.process(data_samples=batch, data_batch=data_batch)
            samples += batch
        return samples

    def _skipped_records(self, q: int, gal_ids: Sequence[int],
                         score_of: Dict[int, float]) -> List[dict]:
        """Records of the skipped images of query ``q``: empty pairs with
        their GFN score, and empty detection records of those ``q`` owns."""
        qid = int(self.rset.query_ann_ids[q])
        records = []
        for img_id in gal_ids:
            rec = skipped_sample(img_id, qid)
            rec.update(gfn_score=score_of[img_id], gfn_skipped=True)
            records.append(rec)
        records += [
            skipped_sample(img_id, -1) for img_id in gal_ids
            if self.det_owner.get(int(img_id)) == q
        ]
        return records

    def _detection_records(self, outputs: Sequence, q: int,
                           emitted: set) -> List[dict]:
        """Gallery records of the images query ``q`` owns, once each."""
        records = []
        for sample in outputs:
            img_id = int(sample.metainfo['img_id'])
            if self.det_owner.get(img_id) == q and img_id not in emitted:
                emitted.add(img_id)
                records.append(compact_sample(sample, as_gallery=True))
        return records

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: dict) -> Sequence:
        """One pair batch through the model (with the iteration hooks) ->
        the predicted gallery samples."""
        self.runner.call_hook('before_test_iter',
                              batch_idx=idx,
                              data_batch=data_batch)
        with autocast(enabled=self.fp16):
            if self.feat_cache is None:
                outputs = self.runner.model.test_step(data_batch)
            else:
                outputs = self.cached_test_step(data_batch)
        self.runner.call_hook('after_test_iter',
                              batch_idx=idx,
                              data_batch=data_batch,
                              outputs=outputs)
        return outputs

    # ---------------------------------------------- feature caching (E1)
    def _image_feats(self, item: dict) -> tuple:
        """One pipeline output -> (BaseNet features, tuple of (1, C, h, w);
        its preprocessed data sample)."""
        data = self._model_inputs(item)
        return (self.model.extract_unguided_feat(data['inputs']),
                data['data_samples'][0])

    def _gallery_entry(self, item: dict) -> tuple:
        """A gallery pipeline output -> its feature-cache entry: (BaseNet
        features or, with ``pair_independent_dets``, detections; its
        preprocessed data sample)."""
        x, sample = self._image_feats(item)
        if self.cache_dets:
            return self.model.gallery_detections(x, [sample])[0], sample
        return x, sample

    def _query(self, qid: int, item: dict) -> tuple:
        """Query ``qid``'s (BaseNet features or, with ``cache_dets``, its
        embedding f_q (1, D); preprocessed data sample), computed once."""
        if self._query_feats[0] != qid:
            x, sample = self._image_feats(item)
            if self.cache_dets:
                x = self.model.roi_head.query_embeddings(
                    x, self.model.query_bboxes([sample]))
            self._query_feats = (qid, (x, sample))
        return self._query_feats[1]

    def cached_test_step(self, data_batch: dict) -> List:
        """A pair batch -> predicted gallery samples, from per-image
        features: the query's computed once, the galleries' features (or
        detections) from the feature cache; galleries whose maps differ in
        size run in separate groups (no feature padding)."""
        samples = data_batch['data_samples']['gallery']
        qid = int(samples[0].metainfo['query_ann_id'])
        query = self._query(qid, dict(
            inputs=data_batch['inputs']['query'][0],
            data_samples=data_batch['data_samples']['query'][0]))
        feats = [self.feat_cache[int(s.metainfo['img_id'])] for s in samples]
        if self.cache_dets:
            return self._rank_detections(qid, query, feats)
        groups: Dict[tuple, List[int]] = OrderedDict()
        for i, (x, _) in enumerate(feats):
            groups.setdefault(tuple(x[0].shape[-2:]), []).append(i)
        outputs = [None] * len(samples)
        for idx in groups.values():
            preds = self._predict_group(qid, query, [feats[i] for i in idx])
            for i, pred in zip(idx, preds):
                outputs[i] = pred
        return outputs

    @staticmethod
    def _pair_samples(qid: int, galleries: List[tuple]) -> List:
        """Copies of the galleries' cached samples, as pair samples."""
        samples = []
        for _, sample in galleries:
            sample = copy.deepcopy(sample)
            sample.set_metainfo(dict(query_ann_id=qid, is_query=False))
            samples.append(sample)
        return samples

    def _rank_detections(self, qid: int, query: tuple,
                         galleries: List[tuple]) -> List:
        """Query (f_q, sample) and G galleries (detections, sample) -> G
        predicted gallery samples."""
        f_q = query[0]
        return self.model.predict_from_detections(
            f_q.expand(len(galleries), -1), [d for d, _ in galleries],
            self._pair_samples(qid, galleries))

    def _predict_group(self, qid: int, query: tuple,
                       galleries: List[tuple]) -> List:
        """Query (features, sample) and G same-size galleries (features,
        sample) -> G predicted gallery samples (one batch of G pairs)."""
        (x_q, q_sample), n = query, len(galleries)
        samples = self._pair_samples(qid, galleries)
        x_g = tuple(
            torch.cat(maps) for maps in zip(*[x for x, _ in galleries]))
        # repeat, not expand: mmcv's RoIAlign misreads stride-0 maps
        return self.model.predict_from_feats(
            tuple(t.repeat(n, 1, 1, 1) for t in x_q), x_g,
            [copy.deepcopy(q_sample) for _ in range(n)], samples)

    def _count_gfn(self, samples: Sequence[dict]) -> None:
        """Add a query's pairs and GFN-skipped pairs to ``gfn_stats``."""
        pairs = [s for s in samples if s['query_ann_id'] >= 0]
        self.gfn_stats['pairs'] += len(pairs)
        self.gfn_stats['skipped'] += sum(
            bool(s.get('gfn_skipped', False)) for s in pairs)

    def _log_gfn(self) -> None:
        """Sum ``gfn_stats`` over ranks and log the skipped share."""
        if not self.with_gfn:
            return
        self.gfn_stats = {
            k: self._global_count(v)
            for k, v in self.gfn_stats.items()
        }
        pairs, skipped = self.gfn_stats['pairs'], self.gfn_stats['skipped']
        self.runner.logger.info(
            f'GFN two-phase search on {self.rset.name}: threshold '
            f'{self.gfn_thr}, skipped {skipped} of {pairs} pair forwards '
            f'({100.0 * skipped / max(pairs, 1):.1f}%)')

    @staticmethod
    def _global_count(n: int) -> int:
        """Samples processed over all ranks (the ``size`` of evaluate)."""
        count = torch.tensor(n, dtype=torch.int64)
        all_reduce(count, op='sum')
        return int(count.item())

    # ------------------------------------------------------------ resume
    def _resume_path(self) -> str:
        """The file this rank appends to."""
        if get_world_size() == 1:
            return self.resume_file
        return f'{self.resume_file}.rank{get_rank()}'

    def _load_resume(self) -> Dict[int, List[dict]]:
        """Query ann id -> stored samples, from every resume file (any
        earlier world size). A truncated tail of this rank's file (a crash
        while writing) is cut off."""
        if self.resume_file is None:
            return {}
        done: Dict[int, List[dict]] = {}
        paths = [self.resume_file] + sorted(
            glob.glob(glob.escape(self.resume_file) + '.rank*'))
        for path in paths:
            if osp.isfile(path):
                good = _read_records(path, done, self._resume_settings())
                if path == self._resume_path():
                    with open(path, 'r+b') as f:
                        f.truncate(good)
        return done

    def _append_resume(self, qid: int, samples: List[dict]) -> None:
        if self.resume_file is None:
            return
        with open(self._resume_path(), 'ab') as f:
            pickle.dump(dict(query_ann_id=qid,
                             samples=samples,
                             settings=self._resume_settings()),
                        f,
                        protocol=pickle.HIGHEST_PROTOCOL)

    def _resume_settings(self) -> dict:
        """Settings the stored samples depend on (checked on resume)."""
        return dict(gfn_thr=self.gfn_thr) if self.with_gfn else {}


def _read_records(path: str,
                  done: dict,
                  settings: Optional[dict] = None) -> int:
    """Add the records of a resume file to ``done`` (first one of a query
    wins); returns the byte length of its readable part. With ``settings``,
    a record written with other settings raises ``ValueError``."""
    good = 0
    with open(path, 'rb') as f:
        while True:
            try:
                rec = pickle.load(f)
            except (EOFError, pickle.UnpicklingError, ValueError,
                    AttributeError):
                break
            stored = rec.get('settings', {})
            if settings is not None and stored != settings:
                raise ValueError(
                    f'resume file {path} was written with {stored}, this run '
                    f'uses {settings}: remove it or restore the settings')
            done.setdefault(int(rec['query_ann_id']), rec['samples'])
            good = f.tell()
    return good


def read_resume_file(path: str) -> Dict[int, List[dict]]:
    """Query ann id -> stored samples of one resume file."""
    done: Dict[int, List[dict]] = {}
    _read_records(path, done)
    return done


def expanded_pairs(rset: RetrievalSet) -> np.ndarray:
    """All (query ann id, gallery image id) pairs of a set, (P, 2), in the
    order the loop visits them on one rank."""
    rows = [
        np.stack([np.full(len(g), qid), g], axis=1)
        for qid, g in ((int(rset.query_ann_ids[q]), rset.gallery_image_ids(q))
                       for q in range(len(rset)))
    ]
    return np.concatenate(rows).astype(np.int64) if rows else \
        np.zeros((0, 2), np.int64)
