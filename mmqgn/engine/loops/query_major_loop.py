"""Query-major test loop for query-guided detectors (qgn_qeeps.md §9).

A query-guided model scores a gallery image only jointly with one query, so
a retrieval set of Q queries with galleries of G images costs Q x G pair
forwards (§9.2). :class:`QueryMajorTestLoop` walks the queries of one
retrieval set (split across ranks), runs each query image through the data
pipeline once and searches its expanded gallery
(``RetrievalSet.gallery_image_ids``) in batches of ``gallery_batch_size``
with a :class:`~mmqgn.search.Searcher`, which holds what the model lets it
reuse (the query code once per query, gallery codes and GFN scene
embeddings cached across queries: :class:`QueryGuidedDetector`). Decoded
and resized gallery images come from an LRU cache of pipeline outputs keyed
by image id. Finished queries go to a :class:`ResumeFile`.
"""
from typing import Dict, Iterator, List, Optional, Sequence

import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from mmengine.utils import ProgressBar

from mmqgn.registry import LOOPS
from mmqgn.search import FROM_CONFIG, LRUCache, Searcher
from mmqgn.structures import RetrievalSet, pair_sample
from .query_set import PairBatchLoader, QuerySetData, expanded_pairs
from .resume import ResumeFile, read_resume_file

__all__ = [
    'QueryMajorTestLoop', 'PairBatchLoader', 'PipelineCache',
    'expanded_pairs', 'read_resume_file'
]

#: the LRU cache of pipeline outputs (before the searcher had its own).
PipelineCache = LRUCache


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

    GFN (two-phase search, gfn_seqnext.md §3.1, §8.1 decision 3): per query,
    its gallery images are scored by the GFN first; every pair record gets
    ``gfn_score`` (float) and ``gfn_skipped`` (bool); ``sims`` stay
    unweighted (the metric weights them by ``gfn_score``). Images scoring
    below the threshold get no pair forward: their pair record has empty
    predictions and ``gfn_skipped=True``, and if the query owns the image's
    detection record, that record is empty too (evaluate without a
    threshold for the detector's own detection AP). The skipped share is
    logged and kept in ``gfn_stats``.

    Args:
        runner (Runner): the runner.
        dataloader (DataLoader | dict): the test dataloader.
        evaluator (Evaluator | dict | list): the test evaluator.
        retrieval_set (str): name (resolved like the dataset does) or path.
        gallery_batch_size (int): gallery images per pair batch.
        cache_size (int): gallery pipeline outputs kept (LRU); 0: none.
        resume_file (str, optional): finished queries are appended to it
            and replayed on restart (see :class:`ResumeFile`).
        naive (bool): one pair per forward, every image decoded for every
            pair, the reference pair forward (the baseline of the
            benchmark); ``gallery_batch_size``, ``cache_size`` and
            ``feat_cache_size`` are then ignored.
        fp16 (bool): autocast the forwards.
        gfn_thr (float, optional): GFN filter threshold; None: the model's
            ``test_cfg.gfn.filter_thr``, and None there too: no filtering
            (scores only). GFN scores are > 0, so 0 keeps every pair.
        scene_cache_size (int): gallery scene embeddings kept (LRU).
        feat_cache_size (int): gallery codes kept (LRU; e.g. one R50 C4 map
            of a 900x1500 image is ~22 MB); 0 (or ``naive``) runs every pair
            through the reference pair forward.
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
        self.naive = naive
        self.gallery_batch_size = 1 if naive else int(gallery_batch_size)
        self.data = QuerySetData(self.dataloader.dataset, retrieval_set)
        self.rset: RetrievalSet = self.data.rset
        self.dataset = self.data.dataset
        self.cache = LRUCache(self.data.load_gallery, 0 if naive else cache_size)
        self.det_owner = self.data.det_owner
        self._iter = 0
        self.searcher = Searcher(
            self.model,
            FROM_CONFIG if gfn_thr is None else gfn_thr,
            reuse=not naive and feat_cache_size > 0,
            code_cache_size=feat_cache_size,
            scene_cache_size=scene_cache_size,
            fp16=fp16)
        self.gfn_thr = self.searcher.gfn_thr
        self.with_gfn = self.searcher.with_gfn
        self.resume = ResumeFile(
            resume_file, dict(gfn_thr=self.gfn_thr) if self.with_gfn else {})
        self.gfn_stats = dict(pairs=0, skipped=0)
        self.dataloader = PairBatchLoader(self.dataloader,
                                          self._num_pair_batches())

    @property
    def model(self):
        """The test model (unwrapped from DDP)."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

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

    # --------------------------------------------------------------- run
    def run(self) -> dict:
        """Run the pairs of this rank's queries and evaluate."""
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        self.runner.model.eval()
        self.test_loss.clear()
        done = self.resume.load()
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
                self.resume.append(qid, samples)
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
        qid = int(self.rset.query_ann_ids[q])
        gal_ids = self.rset.gallery_image_ids(q).tolist()
        # naive without a GFN: the query is decoded for every pair instead
        self.searcher.set_query(
            None if self.naive and not self.with_gfn else
            self.data.load_query(qid), qid)
        if not self.with_gfn:
            return self._run_pairs(q, gal_ids, None)
        scores = self.searcher.gfn_scores(self._images(gal_ids))
        score_of = dict(zip(gal_ids, scores.tolist()))
        keep = self.searcher.keep(scores)
        skipped = self.data.skipped_samples(
            q, [g for g, k in zip(gal_ids, keep) if not k], score_of)
        if skipped:
            self.evaluator.process(data_samples=skipped, data_batch=None)
        run = [g for g, k in zip(gal_ids, keep) if k]
        return skipped + self._run_pairs(q, run, score_of)

    def _images(self, gal_ids: Sequence[int]) -> list:
        """``(img_id, load)`` of gallery images for the searcher."""
        return [(int(g), lambda g=g: self.cache[int(g)]) for g in gal_ids]

    def _run_pairs(self, q: int, gal_ids: Sequence[int],
                   score_of: Optional[Dict[int, float]]) -> List[dict]:
        """Pair forwards of query ``q`` over ``gal_ids``; ``score_of``: GFN
        score per image id, or None."""
        samples, emitted = [], set()
        for chunk in self._chunks(gal_ids):
            outputs = self.run_iter(self._iter, q, chunk)
            self._iter += 1
            batch = [pair_sample(s) for s in outputs]
            if score_of is not None:
                for rec in batch:
                    rec.update(gfn_score=score_of[rec['img_id']],
                               gfn_skipped=False)
            batch += self.data.detection_samples(outputs, q, emitted)
            self.evaluator.process(data_samples=batch,
                                   data_batch=dict(img_ids=chunk))
            samples += batch
        return samples

    def _chunks(self, gal_ids: Sequence[int]) -> Iterator[List[int]]:
        step = self.gallery_batch_size
        for start in range(0, len(gal_ids), step):
            yield list(gal_ids[start:start + step])

    @torch.no_grad()
    def run_iter(self, idx: int, q: int, gal_ids: List[int]) -> Sequence:
        """One pair batch of query ``q`` (with the iteration hooks; their
        ``data_batch`` is ``dict(query_ann_id, img_ids)``) -> the predicted
        gallery samples."""
        qid = int(self.rset.query_ann_ids[q])
        data_batch = dict(query_ann_id=qid, img_ids=gal_ids)
        self.runner.call_hook('before_test_iter',
                              batch_idx=idx,
                              data_batch=data_batch)
        # naive: the query decoded again for every pair
        query = self.data.load_query(qid) if self.naive else None
        outputs = self.searcher.predict(self._images(gal_ids), query)
        self.runner.call_hook('after_test_iter',
                              batch_idx=idx,
                              data_batch=data_batch,
                              outputs=outputs)
        return outputs

    # -------------------------------------------------------- statistics
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

