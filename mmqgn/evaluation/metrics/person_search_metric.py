"""PersonSearchMetric: legacy-exact person-search evaluation for MMEngine."""
import os.path as osp
from typing import Optional, Sequence, Union

from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump, get_local_path
from mmengine.logging import MMLogger

from mmqgn.registry import METRICS
from mmqgn.structures import (PersonSearchAnnotations, pair_cut_scores,
                              records_to_results, sample_to_record)
from ..functional import evaluate_person_search, load_retrieval_sets


@METRICS.register_module()
class PersonSearchMetric(BaseMetric):
    """Person-search retrieval (mAP, top-k) and detection (AP, recall).

    Reproduces the legacy OIM / NAE / SeqNet / SeqNeXt evaluation scripts
    exactly with ``legacy=True`` (protocol and quirks: see
    :mod:`mmqgn.evaluation.functional.search_eval`); ``legacy=False`` gives
    the corrected protocol (duplicate gallery entries counted once, every box
    of a repeated person is a GT, queries without GT in their gallery left
    out of the means and counted in ``<set>/num_excluded``).

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
    :meth:`process` and stored as float32 numpy arrays.

    Metric keys (before the ``prefix``): ``<set>/mAP``, ``<set>/top<k>`` for
    every retrieval set, ``det/AP``, ``det/recall``, ``det/AP_labeled``,
    ``det/recall_labeled``.

    GFN (gfn_seqnext.md §3.1, §3.7, §5.6; decisions 3, 26), when the results
    carry it: query samples with ``gfn_query`` (3D + 3,) and gallery samples
    with ``scene_embedding`` (D,) (embedding form), or pair samples with
    ``gfn_score`` (pair form; ``gfn_skipped`` pairs have no detections and
    count as skipped). Extra keys per set: ``<set>/gfn_mAP``,
    ``<set>/gfn_top<k>`` (similarities weighted by the GFN score; ``mAP`` /
    ``top<k>`` stay unweighted), ``<set>/scene_mAP``, ``<set>/scene_top1``
    (GFN-only scene retrieval), ``<set>/scene_thr99`` /
    ``<set>/scene_npv99`` (threshold keeping ``gfn_recall`` of the positive
    scenes over the set's pairs, and the fraction of negative scenes below
    it), ``<set>/filtered_mAP``, ``<set>/filtered_top<k>`` (weighted, pairs
    below ``filter_thr`` give no detection), ``<set>/filter_thr`` and
    ``<set>/skipped`` (share of the set's (query, gallery image) pairs
    filtered out, i.e. of the gallery detection work).

    Args:
        ann_file (str): standardized annotation JSON of the partition
            (docs/data_format.md section 2).
        retrieval_sets (str | Sequence[str]): retrieval set names (resolved as
            ``<retrieval_dir>/<name>.json``) or paths.
        retrieval_dir (str, optional): default ``dirname(ann_file)/../
            retrieval``.
        det_thresh (float): detection score threshold. Default 0.5.
        legacy (bool): legacy protocol quirks. Default True.
        topk (Sequence[int]): top-k accuracies. Default (1, 5, 10).
        eval_detection (bool): also report the detection metrics, on the
            gallery and query images of the evaluated sets.
        outfile_prefix (str, optional): dump per-query results to
            ``<outfile_prefix>.person_search.json`` (a directory gives
            ``<dir>/results.person_search.json``).
        results_file (str, optional): also dump the raw predictions
            (gallery detections, query embeddings, pairs) to this ``.pkl``
            in the format of docs/data_format.md section 4, for
            ``tools/analysis_tools/eval_person_search.py``.
        mode (str): 'auto' (pair form when pair samples were seen, else the
            embedding form), 'embedding' or 'pair'.
        collect_device (str): 'cpu' or 'gpu'.
        prefix (str): metric key prefix. Default 'person_search'.
        backend_args (dict, optional): file backend of ``ann_file``.
        gfn_thr (float, optional): GFN filter threshold of the
            ``filtered_*`` keys. None (default) filters at each set's own
            ``gfn_recall`` threshold, which is an oracle (it looks at the
            evaluated set's labels; logged as such): for an honest number
            calibrate it on the val partition (``scene_thr99`` of a val
            run, or :func:`mmqgn.evaluation.calibrate_gfn_threshold`) and
            pass it here.
        gfn_recall (float): recall of positive scenes of the calibrated
            threshold. Default 0.99.
        det_score_source (str): pair samples of query-guided models: which
            score ``det_thresh`` applies to in the search evaluation,
            ``'cls'`` (the detector's person score, default) or ``'sim'``
            (the pair similarity, e.g. QSimNet p_same; qgn_qeeps.md D7).
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
                 results_file: Optional[str] = None,
                 mode: str = 'auto',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = 'person_search',
                 backend_args: Optional[dict] = None,
                 gfn_thr: Optional[float] = None,
                 gfn_recall: float = 0.99,
                 det_score_source: str = 'cls') -> None:
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
        self.results_file = results_file
        self.mode = mode
        self.backend_args = backend_args
        self.gfn_thr = None if gfn_thr is None else float(gfn_thr)
        self.gfn_recall = float(gfn_recall)
        pair_cut_scores(None, None, det_score_source)  # validates it
        self.det_score_source = det_score_source
        self._anns = None
        self._sets = None

    def _annotations(self) -> PersonSearchAnnotations:
        if self._anns is None:
            with get_local_path(self.ann_file,
                                backend_args=self.backend_args) as path:
                self._anns = PersonSearchAnnotations(path)
            self._anns.path = self.ann_file
        return self._anns

    def _retrieval_sets(self) -> list:
        """Retrieval sets, loaded once and reused by later evaluations."""
        if self._sets is None:
            self._sets = load_retrieval_sets(self.retrieval_sets,
                                             self._annotations(),
                                             self.ann_file,
                                             self.retrieval_dir)
        return self._sets

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Store the predictions of a batch (CPU numpy, float32)."""
        for sample in data_samples:
            self.results.append(sample_to_record(sample, self.det_thresh,
                                                 self.det_score_source))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        outfile_prefix = self.outfile_prefix
        if outfile_prefix is not None and osp.isdir(outfile_prefix):
            outfile_prefix = osp.join(outfile_prefix, 'results')
        predictions = records_to_results(results)
        if self.results_file is not None:
            dump(predictions, self.results_file)
            logger.info(f'raw predictions written to {self.results_file}')
        return evaluate_person_search(
            predictions, self.ann_file,
            self._retrieval_sets(), det_thresh=self.det_thresh,
            legacy=self.legacy, topk=self.topk,
            eval_detection=self.eval_detection, mode=self.mode,
            logger=logger, outfile_prefix=outfile_prefix,
            annotations=self._annotations(), gfn_thr=self.gfn_thr,
            gfn_recall=self.gfn_recall,
            det_score_source=self.det_score_source)
