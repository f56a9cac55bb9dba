"""The data side of :class:`QueryMajorTestLoop`: one retrieval set over a
test dataset (query and gallery pipeline outputs by id, which query owns
each gallery image's detection sample, the samples of skipped pairs)."""
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
                              empty_pair_sample, pair_sample,
                              resolve_retrieval_set)


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
        self.det_owner = self.detection_owners()

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

    def skipped_samples(self, q: int, gal_ids: Sequence[int],
                        score_of: Dict[int, float]) -> List[dict]:
        """Records of the skipped images of query ``q``: empty pairs with
        their GFN score, and empty detection records of those ``q`` owns."""
        qid = int(self.rset.query_ann_ids[q])
        records = []
        for img_id in gal_ids:
            rec = empty_pair_sample(img_id, qid)
            rec.update(gfn_score=score_of[img_id], gfn_skipped=True)
            records.append(rec)
        records += [
            empty_pair_sample(img_id, -1) for img_id in gal_ids
            if self.det_owner.get(int(img_id)) == q
        ]
        return records

    def detection_samples(self, outputs: Sequence, q: int,
                          emitted: set) -> List[dict]:
        """Gallery records of the images query ``q`` owns, once each."""
        records = []
        for sample in outputs:
            img_id = int(sample.metainfo['img_id'])
            if self.det_owner.get(img_id) == q and img_id not in emitted:
                emitted.add(img_id)
                records.append(pair_sample(sample, as_gallery=True))
        return records


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
