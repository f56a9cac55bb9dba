"""The data side of :class:`QueryMajorTestLoop`: one retrieval set over a
test dataset (query and gallery pipeline outputs by id, detection owners)
and the records the loop gives the metric."""
import os.path as osp
from typing import Dict

import numpy as np

from mmqgn.evaluation.functional import (PersonSearchAnnotations, RetrievalSet,
                                         resolve_retrieval_set)

#: ``pred_instances`` fields kept for the metric (embeddings are dropped:
#: pair samples are ranked by ``sims``; this keeps the resume file small).
PRED_KEYS = ('bboxes', 'scores', 'sims', 'labels')


class QuerySetData:
    """A retrieval set's queries and gallery images in a test dataset.

    Args:
        dataset: a test-mode :class:`PersonSearchDataset` whose
            ``retrieval_sets`` include ``retrieval_set``.
        retrieval_set (str): name (resolved like the dataset does) or path.
    """

    def __init__(self, dataset, retrieval_set: str) -> None:
        self.dataset = dataset
        path = resolve_retrieval_set(
            retrieval_set, dataset.ann_file, dataset.retrieval_dir
            or osp.join(dataset.data_root or '', 'retrieval'))
        self.rset = RetrievalSet(path,
                                 PersonSearchAnnotations(dataset.ann_file))
        self.rset.check_nonempty()
        self.query_index = self._index(is_query=True, key='query_ann_id')
        self.image_index = self._index(is_query=False, key='img_id')

    def _index(self, is_query: bool, key: str) -> Dict[int, int]:
        """Dataset index of every query (by ann id) or image (by id)."""
        index = {}
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            if bool(info['is_query']) == is_query:
                index.setdefault(int(info[key]), i)
        return index

    def _pipeline(self, idx: int) -> dict:
        return self.dataset.pipeline(self.dataset.get_data_info(idx))

    def load_gallery(self, img_id: int) -> dict:
        """Pipeline output of a gallery image."""
        return self._pipeline(self.image_index[int(img_id)])

    def load_query(self, ann_id: int) -> dict:
        """Pipeline output of a query (its box as the only GT box)."""
        if ann_id not in self.query_index:
            raise KeyError(f'query ann_id {ann_id} of {self.rset.name} is not '
                           'in the test dataset (add the set to its '
                           'retrieval_sets)')
        return self._pipeline(self.query_index[ann_id])

    def detection_owners(self) -> Dict[int, int]:
        """Image id -> the first query (set order) listing it: the query
        whose pair gives the image's detection record."""
        owner = {}
        for q in range(len(self.rset)):
            for img_id in self.rset.gallery_image_ids(q).tolist():
                owner.setdefault(int(img_id), q)
        return owner


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
