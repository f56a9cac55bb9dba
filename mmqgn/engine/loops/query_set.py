"""The data side of :class:`QueryMajorTestLoop`: one retrieval set over a
test dataset (query and gallery pipeline outputs by id, detection
owners)."""
import os.path as osp
from typing import Dict

from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
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

