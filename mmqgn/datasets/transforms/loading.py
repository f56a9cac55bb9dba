import numpy as np
from mmdet.datasets.transforms import LoadAnnotations

from mmqgn.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPersonSearchAnnotations(LoadAnnotations):
    """Load person boxes together with their identities.

    On top of :class:`mmdet.datasets.transforms.LoadAnnotations` (``gt_bboxes``,
    ``gt_bboxes_labels``, ``gt_ignore_flags``) it adds, aligned with the boxes:

    - ``gt_person_ids`` (np.int64, (N,)): dataset person id, -1 if unlabeled.
    - ``gt_person_labels`` (np.int64, (N,)): OIM lookup-table index
      (0 .. num_known_ids - 1), -1 for unlabeled people.
    """

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        instances = results.get('instances', [])
        for key in ('person_id', 'person_label'):
            values = [inst[key] for inst in instances]
            results[f'gt_{key}s'] = np.asarray(values, dtype=np.int64)
        return results
