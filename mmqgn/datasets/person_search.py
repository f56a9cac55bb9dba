"""Person-search datasets over the standardized COCO-style JSON.

Format: ``docs/data_format.md`` (after ``gfn_seqnext.md`` §5.2). Training
mode yields scenes with all person boxes and their identities. Test mode
yields every image of ``ann_file`` as a gallery scene, followed by one entry
per query of the selected retrieval sets (``is_query=True``; the query box is
its only instance, so resize and flip transform it like any box).
"""
import os.path as osp
from typing import List, Optional, Sequence

from mmdet.datasets import BaseDetDataset

from mmqgn.registry import DATASETS
from mmqgn.structures import (PersonSearchAnnotations, RetrievalSet,
                              resolve_retrieval_set)
from mmqgn.utils.json_io import CONVERTER_FIX, load_json


class AnnotationError(ValueError):
    """A malformed annotation or retrieval file; the message names it."""


@DATASETS.register_module()
class PersonSearchDataset(BaseDetDataset):
    """Person search dataset (standardized COCO-style annotations).

    ``metainfo['num_person_ids']``: the number of distinct known person ids
    of ``ann_file`` (checked against its ``info.num_known_ids``), which
    ``OIMTableSizeHook`` gives the OIM lookup table.

    Args:
        ann_file (str): Standardized annotation JSON (one partition).
        retrieval_sets (Sequence[str]): Test mode only: names (resolved in
            ``retrieval_dir``) or paths of retrieval-set JSONs whose queries
            are appended after the gallery scenes.
        retrieval_dir (str, optional): Folder of the retrieval sets. Defaults
            to ``<data_root>/retrieval``.
        **kwargs: See :class:`mmdet.datasets.BaseDetDataset`.
    """
    METAINFO = dict(classes=('person', ), palette=[(220, 20, 60)])

    def __init__(self,
                 *args,
                 retrieval_sets: Sequence[str] = (),
                 retrieval_dir: Optional[str] = None,
                 **kwargs) -> None:
        self.retrieval_sets = list(retrieval_sets)
        self.retrieval_dir = retrieval_dir
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        coco = load_json(self.ann_file, CONVERTER_FIX)
        _check_coco(coco, self.ann_file)
        known = sorted({a['person_id'] for a in coco['annotations']
                        if a['person_id'] >= 0})
        _check_num_known_ids(coco, len(known), self.ann_file)
        self._metainfo['num_person_ids'] = len(known)
        label_of = {pid: i for i, pid in enumerate(known)}
        images = {img['id']: img for img in coco['images']}
        instances = {img_id: [] for img_id in images}
        for ann in coco['annotations']:
            instances[ann['image_id']].append(_instance(ann, label_of))
        data_list = [self._image_info(img, instances[img_id])
                     for img_id, img in images.items()]
        if self.test_mode:
            data_list += self._query_infos(coco, images, label_of)
        return data_list

    def _image_info(self, img: dict, instances: List[dict]) -> dict:
        return dict(
            img_path=osp.join(self.data_prefix.get('img', ''),
                              img['file_name']),
            img_id=img['id'],
            height=img['height'],
            width=img['width'],
            cam_id=img.get('cam_id', -1),
            is_query=False,
            query_ann_id=-1,
            instances=instances)

    def _query_infos(self, coco: dict, images: dict,
                     label_of: dict) -> List[dict]:
        """One entry per distinct query annotation of the retrieval sets."""
        anns = PersonSearchAnnotations(coco)
        infos = {}
        for name in self.retrieval_sets:
            path = resolve_retrieval_set(
                name, self.ann_file, self.retrieval_dir or osp.join(
                    self.data_root, 'retrieval'))
            rset = RetrievalSet(path, anns)
            rset.check_nonempty()
            for q, ann_id in enumerate(rset.query_ann_ids.tolist()):
                if ann_id in infos:
                    continue
                img = images[int(anns.img_ids[rset.query_img_idx[q]])]
                x1, y1, x2, y2 = rset.query_boxes[q].tolist()
                ann = dict(id=ann_id, bbox=[x1, y1, x2 - x1, y2 - y1],
                           person_id=int(rset.query_pids[q]))
                _check_query_box(ann, img, path)
                info = self._image_info(img, [_instance(ann, label_of)])
                info.update(is_query=True, query_ann_id=ann_id)
                infos[ann_id] = info
        return list(infos.values())

    def filter_data(self) -> List[dict]:
        """Drop training scenes without any person (``filter_empty_gt``)."""
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        min_size = self.filter_cfg.get('min_size', 0)
        keep = []
        for info in self.data_list:
            if self.filter_cfg.get('filter_empty_gt') and not info[
                    'instances']:
                continue
            if min(info['width'], info['height']) >= min_size:
                keep.append(info)
        return keep


@DATASETS.register_module()
class CUHKSYSUDataset(PersonSearchDataset):
    """CUHK-SYSU (Xiao et al., CVPR 2017) in the standardized format."""
    METAINFO = dict(
        dataset_name='CUHK-SYSU', classes=('person', ),
        palette=[(220, 20, 60)])


@DATASETS.register_module()
class PRWDataset(PersonSearchDataset):
    """PRW (Zheng et al., CVPR 2017) in the standardized format."""
    METAINFO = dict(
        dataset_name='PRW', classes=('person', ), palette=[(220, 20, 60)])


def _instance(ann: dict, label_of: dict) -> dict:
    x, y, w, h = ann['bbox']
    pid = ann['person_id']
    return dict(
        bbox=[x, y, x + w, y + h],
        bbox_label=0,
        ignore_flag=0,
        ann_id=ann['id'],
        person_id=pid,
        person_label=label_of.get(pid, -1))


def _check_coco(coco: dict, ann_file: str) -> None:
    """Fail with a message naming the file and the first malformed entry."""
    for key in ('images', 'annotations'):
        if not isinstance(coco.get(key), list):
            raise AnnotationError(f'{ann_file}: no "{key}" list')
    image_ids = set()
    for img in coco['images']:
        missing = {'id', 'file_name', 'height', 'width'} - img.keys()
        if missing:
            raise AnnotationError(
                f'{ann_file}: image {img.get("id")} lacks {sorted(missing)}')
        image_ids.add(img['id'])
    for ann in coco['annotations']:
        _check_annotation(ann, image_ids, ann_file)


def _check_num_known_ids(coco: dict, num: int, ann_file: str) -> None:
    """``info.num_known_ids`` (written by the converters) must be the number
    of distinct known person ids of the annotations (it sizes the OIM
    lookup table, gfn_seqnext.md decision 21); files without it pass."""
    recorded = coco.get('info', {}).get('num_known_ids')
    if recorded is not None and recorded != num:
        raise AnnotationError(
            f'{ann_file}: info.num_known_ids is {recorded} but the '
            f'annotations hold {num} distinct known person ids; the file was '
            'edited after conversion: re-run the dataset converter')


def _check_annotation(ann: dict, image_ids: set, ann_file: str) -> None:
    where = f'{ann_file}: annotation {ann.get("id")}'
    missing = {'id', 'image_id', 'bbox', 'person_id'} - ann.keys()
    if missing:
        raise AnnotationError(f'{where} lacks {sorted(missing)}')
    if ann['image_id'] not in image_ids:
        raise AnnotationError(f'{where} refers to unknown image '
                              f'{ann["image_id"]}')
    bbox = ann['bbox']
    if len(bbox) != 4 or bbox[2] <= 0 or bbox[3] <= 0:
        raise AnnotationError(f'{where} has an invalid bbox {bbox} '
                              '(expected [x, y, w, h] with w, h > 0)')


def _check_query_box(query: dict, img: dict, path: str) -> None:
    x, y, w, h = query['bbox']
    inside = (x >= -1 and y >= -1 and x + w <= img['width'] + 1
              and y + h <= img['height'] + 1 and w > 0 and h > 0)
    if not inside:
        raise AnnotationError(
            f'{path}: query {query["id"]} box {query["bbox"]} lies outside its '
            f'image {img["file_name"]} ({img["width"]}x{img["height"]})')
