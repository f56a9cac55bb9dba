"""PersonSearchMetric: legacy-exact person-search evaluation for MMEngine."""
import os.path as osp
from typing import Optional, Sequence, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger

from mmqgn.registry import METRICS
from ..functional import (PersonSearchAnnotations, evaluate_person_search,
                          load_retrieval_sets, to_numpy)


def _as_dict(x):
    if x is None or isinstance(x, dict):
        return x
    if hasattr(x, 'to_dict'):
        return x.to_dict()
    return dict(x)


@METRICS.register_module()
class PersonSearchMetric(BaseMetric):
    """Person-search retrieval (mAP, top-k) and detection (AP, recall).

    Reproduces the legacy OIM / NAE / SeqNet / SeqNeXt evaluation scripts
    exactly with ``legacy=True`` (see :mod:`mmqgn.evaluation.functional.
    search_eval` for the protocol and its quirks); ``legacy=False`` gives the
    corrected protocol (duplicate gallery entries counted once, every box of
    a repeated person is a GT, queries without GT in their gallery left out
    of the means).

    Data samples (dicts, as mmengine passes them; DetDataSample objects are
    converted with ``to_dict``) are of three kinds:

    * gallery: ``img_id`` and ``pred_instances`` = ``bboxes`` (N, 4) x1y1x2y2
      in original pixels, ``scores`` (N,), ``embeddings`` (N, D) (optional
      for query-guided models, whose gallery outputs serve the detection
      metric only);
    * query: ``is_query=True``, ``query_ann_id``, ``img_id`` and
      ``pred_instances.embeddings`` (1, D) (the GT-box embedding);
    * pair (query-guided models): ``query_ann_id`` with ``is_query`` False,
      ``img_id``, ``pred_instances`` = ``bboxes``, ``scores``, ``sims``.

    Detections are kept at ``score >= det_thresh`` already in
    :meth:`process`, stored as float32 numpy arrays.

    Args:
        ann_file (str): standardized annotation JSON of the partition
            (docs/data_format.md section 2).
        retrieval_sets (str | Sequence[str]): retrieval set names (resolved as
            ``<retrieval_dir>/<name>.json``) or paths; each gives metrics
            ``<name>/mAP``, ``<name>/top<k>``.
        retrieval_dir (str, optional): default ``dirname(ann_file)/../
            retrieval``.
        det_thresh (float): detection score threshold. Default 0.5.
        legacy (bool): legacy protocol quirks. Default True.
        topk (Sequence[int]): top-k accuracies. Default (1, 5, 10).
        eval_detection (bool): also report ``det/AP``, ``det/recall``,
            ``det/AP_labeled``, ``det/recall_labeled`` on the images of the
            evaluated sets.
        outfile_prefix (str, optional): dump per-query results to
            ``<outfile_prefix>.person_search.json``.
        mode (str): 'auto' (pair form when pair samples were seen, else the
            embedding form), 'embedding' or 'pair'.
        collect_device (str): 'cpu' or 'gpu'.
        prefix (str): metric key prefix. Default 'person_search'.
        backend_args (dict, optional): file backend of ``ann_file``.
    """
    default_prefix: Optional[str] = 'person_search'

    def __init__(self,
                 ann_file: str,
                 retrieval_sets: Union[str, Sequence[str]] = ('G100', ),
                 retrieval_dir: Optional[str] = None,
                 det_thresh: float = 0.5,
                 legacy: bool = True,
                 topk: Sequence[int] = (1, 5, 10),
                 eval_detection: bool = True,
                 outfile_prefix: Optional[str] = None,
                 mode: str = 'auto',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'person_search',
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if isinstance(retrieval_sets, str):
            retrieval_sets = [retrieval_sets]
        if mode not in ('auto', 'embedding', 'pair'):
            raise ValueError(f'mode must be auto, embedding or pair, got '
                             f'{mode!r}')
        self.ann_file = ann_file
        self.retrieval_sets = list(retrieval_sets)
        self.retrieval_dir = retrieval_dir
        self.det_thresh = float(det_thresh)
        self.legacy = bool(legacy)
        self.topk = tuple(int(k) for k in topk)
        self.eval_detection = eval_detection
        self.outfile_prefix = outfile_prefix
        self.mode = mode
        self.backend_args = backend_args
        self._anns = None
        self._sets = None

    # ------------------------------------------------------------------
    def _annotations(self):
        if self._anns is None:
            with get_local_path(self.ann_file,
                                backend_args=self.backend_args) as path:
                self._anns = PersonSearchAnnotations(path)
            self._anns.path = self.ann_file
        return self._anns

    def _retrieval_sets(self):
        """Retrieval sets, loaded once and cached across evaluations."""
        if self._sets is None:
            self._sets = load_retrieval_sets(self.retrieval_sets,
                                             self._annotations(),
                                             self.ann_file,
                                             self.retrieval_dir)
        return self._sets

    def _keep(self, scores):
        return scores >= self.det_thresh

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Store the predictions of a batch (CPU numpy, float32)."""
        for sample in data_samples:
            sample = _as_dict(sample)
            pred = _as_dict(sample.get('pred_instances')) or {}
            qid = sample.get('query_ann_id')
            if sample.get('is_query', False):
                if qid is None:
                    raise KeyError('query sample without query_ann_id')
                emb = pred.get('embeddings')
                if emb is None:
                    raise KeyError(f'query sample (ann_id {int(qid)}) has no '
                                   'pred_instances.embeddings')
                self.results.append({
                    'kind': 'query', 'ann_id': int(qid),
                    'embedding': to_numpy(emb, np.float32).reshape(-1)})
                continue
            scores = to_numpy(pred['scores'], np.float32).reshape(-1)
            keep = self._keep(scores)
            item = {
                'img_id': int(sample['img_id']),
                'bboxes': to_numpy(pred['bboxes'],
                                   np.float32).reshape(-1, 4)[keep],
                'scores': scores[keep]}
            if qid is not None:  # pair sample (query-guided model)
                item.update(kind='pair', ann_id=int(qid),
                            sims=to_numpy(pred['sims'],
                                          np.float32).reshape(-1)[keep])
            else:
                item['kind'] = 'gallery'
                emb = pred.get('embeddings')
                if emb is not None:
                    emb = to_numpy(emb, np.float32)
                    item['embeddings'] = np.ascontiguousarray(
                        emb.reshape(emb.shape[0], -1)[keep])
            self.results.append(item)

    @staticmethod
    def results_to_dict(results: list) -> dict:
        """Stored per-sample results -> the results dict of
        docs/data_format.md section 4."""
        gallery, queries, pairs = {}, {}, {}
        for r in results:
            kind = r['kind']
            if kind == 'query':
                queries[r['ann_id']] = r['embedding']
            elif kind == 'pair':
                pairs[(r['ann_id'], r['img_id'])] = {
                    'bboxes': r['bboxes'], 'scores': r['scores'],
                    'sims': r['sims']}
            else:
                d = {'bboxes': r['bboxes'], 'scores': r['scores']}
                if 'embeddings' in r:
                    d['embeddings'] = r['embeddings']
                gallery[r['img_id']] = d
        out = {'gallery': gallery}
        if queries:
            out['queries'] = queries
        if pairs:
            out['pairs'] = pairs
        return out

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        res = self.results_to_dict(results)
        outfile_prefix = self.outfile_prefix
        if outfile_prefix is not None and osp.isdir(outfile_prefix):
            outfile_prefix = osp.join(outfile_prefix, 'results')
        return evaluate_person_search(
            res, self.ann_file, self._retrieval_sets(),
            det_thresh=self.det_thresh, legacy=self.legacy, topk=self.topk,
            eval_detection=self.eval_detection, mode=self.mode,
            logger=logger, outfile_prefix=outfile_prefix,
            annotations=self._annotations())
