"""Query-major test loop for the query-guided detectors (qgn_qeeps.md §9).

QGN / QEEPS score a gallery image only jointly with one query, so a retrieval
set of Q queries with galleries of G images costs Q x G pair forwards
(§9.2). :class:`QueryMajorTestLoop` walks the queries of one retrieval set,
runs each query image through the data pipeline once and pairs it with its
expanded gallery (``RetrievalSet.gallery_image_ids``) in batches of
``gallery_batch_size`` (the query replicated, §9.3 engineering note), in the
pair batch format of ``PairDataPreprocessor``. Decoded and resized gallery
images come from a small LRU cache of pipeline outputs keyed by image id.
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
from mmengine.runner import TestLoop
from mmengine.runner.amp import autocast
from mmengine.utils import ProgressBar

from mmqgn.evaluation.functional import (PersonSearchAnnotations, RetrievalSet,
                                         resolve_retrieval_set)
from mmqgn.registry import LOOPS

__all__ = [
    'QueryMajorTestLoop', 'PipelineCache', 'pair_batch', 'compact_sample',
    'expanded_pairs', 'read_resume_file'
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
    into the evaluator instead of being run again.

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
                 fp16: bool = False) -> None:
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

    def pair_batches(self, q: int) -> Iterator[dict]:
        """The pair batches of query ``q`` (its expanded gallery in order)."""
        qid = int(self.rset.query_ann_ids[q])
        gal_ids = self.rset.gallery_image_ids(q).tolist()
        query = None if self.naive else self._load_query(qid)
        step = self.gallery_batch_size
        for start in range(0, len(gal_ids), step):
            chunk = gal_ids[start:start + step]
            if self.naive:
                yield pair_batch(self._load_query(qid),
                                 [self._load_gallery(chunk[0])], qid)
            else:
                yield pair_batch(query, [self.cache[g] for g in chunk], qid)

    # --------------------------------------------------------------- run
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
            if bar is not None:
                bar.update()
        metrics = self.evaluator.evaluate(self._global_count(num_samples))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics

    def run_query(self, q: int) -> List[dict]:
        """All pair batches of query ``q``; returns the samples given to the
        evaluator (pairs and gallery detection records)."""
        samples, emitted = [], set()
        for data_batch in self.pair_batches(q):
            outputs = self.run_iter(self._iter, data_batch)
            self._iter += 1
            batch = [compact_sample(s) for s in outputs]
            batch += self._detection_records(outputs, q, emitted)
            self.evaluator.process(data_samples=batch, data_batch=data_batch)
            samples += batch
        return samples

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
            outputs = self.runner.model.test_step(data_batch)
        self.runner.call_hook('after_test_iter',
                              batch_idx=idx,
                              data_batch=data_batch,
                              outputs=outputs)
        return outputs

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
                good = _read_records(path, done)
                if path == self._resume_path():
                    with open(path, 'r+b') as f:
                        f.truncate(good)
        return done

    def _append_resume(self, qid: int, samples: List[dict]) -> None:
        if self.resume_file is None:
            return
        with open(self._resume_path(), 'ab') as f:
            pickle.dump(dict(query_ann_id=qid, samples=samples),
                        f,
                        protocol=pickle.HIGHEST_PROTOCOL)


def _read_records(path: str, done: dict) -> int:
    """Add the records of a resume file to ``done`` (first one of a query
    wins); returns the byte length of its readable part."""
    good = 0
    with open(path, 'rb') as f:
        while True:
            try:
                rec = pickle.load(f)
            except (EOFError, pickle.UnpicklingError, ValueError,
                    AttributeError):
                break
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
