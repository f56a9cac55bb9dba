from mmdet.datasets.transforms import PackDetInputs

from mmqgn.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackPersonSearchInputs(PackDetInputs):
    """Pack person-search inputs into a :class:`DetDataSample`.

    ``gt_instances`` carries ``bboxes``, ``labels``, ``person_ids`` and
    ``person_labels``; the meta information adds ``is_query`` and
    ``query_ann_id`` (queries: the annotation id of the query box, which is
    then the only instance) and ``cam_id``.
    """
    mapping_table = {
        'gt_bboxes': 'bboxes',
        'gt_bboxes_labels': 'labels',
        'gt_person_ids': 'person_ids',
        'gt_person_labels': 'person_labels',
    }

    def __init__(self,
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                            'scale_factor', 'flip', 'flip_direction',
                            'cam_id', 'is_query', 'query_ann_id')):
        super().__init__(meta_keys=meta_keys)
