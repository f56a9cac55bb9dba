"""Small helpers shared by the person-search heads and detectors."""
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from torch import Tensor


def is_query_sample(data_sample: DetDataSample) -> bool:
    """True for a query image (metainfo ``is_query``); gallery otherwise."""
    return bool(data_sample.metainfo.get('is_query', False))


def empty_boxes(like: Tensor) -> InstanceData:
    """An InstanceData with no box: bboxes (0, 4), scores (0,), labels (0,)."""
    return InstanceData(
        bboxes=like.new_zeros((0, 4)),
        scores=like.new_zeros((0, )),
        labels=like.new_zeros((0, ), dtype=torch.long))


def global_pool(x: Tensor, mode: str) -> Tensor:
    """Global 'max' or 'avg' pool: (N, C, H, W) -> (N, C); (N, C) passes."""
    if x.dim() == 2:
        return x
    if mode == 'max':
        return x.amax(dim=(2, 3))
    if mode == 'avg':
        return x.mean(dim=(2, 3))
    raise ValueError(f"pool must be 'max' or 'avg', got {mode!r}")
