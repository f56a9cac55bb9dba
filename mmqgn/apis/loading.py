"""Images through a searcher's test pipeline, with errors that name the
image (the loading half of :mod:`mmqgn.apis.inference`)."""
import copy
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
import torch.nn as nn
from mmcv.transforms import Compose
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.registry import DefaultScope

ImageType = Union[str, Path, np.ndarray]


class SearchInputError(ValueError):
    """Bad input to the search API (a box, an image, an empty gallery); the
    message names the image or box at fault."""


def test_dataset_metainfo(cfg: Config) -> dict:
    """Metainfo of the (lazily built, nothing read) test dataset."""
    from mmdet.registry import DATASETS
    dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
    dataset_cfg['lazy_init'] = True
    with _scope_of(cfg):
        return dict(DATASETS.build(dataset_cfg).metainfo)


def _scope_of(cfg: Config):
    """Context in which the registries resolve the config's types."""
    return DefaultScope.overwrite_default_scope(
        cfg.get('default_scope', 'mmqgn'))


def build_test_pipeline(cfg: Config, from_ndarray: bool = False) -> Compose:
    """The config's test pipeline; ``from_ndarray`` loads from
    ``results['img']`` (``mmdet.LoadImageFromNDArray``) instead of a file.
    """
    pipeline_cfg = copy.deepcopy(get_test_pipeline_cfg(cfg))
    if from_ndarray:
        pipeline_cfg[0].type = 'mmdet.LoadImageFromNDArray'
    with _scope_of(cfg):
        return Compose(pipeline_cfg)


# ---------------------------------------------------------------- loading
class Loader:
    """Runs images through the model's test pipeline (built once per
    kind: file path or array); errors name the image."""

    def __init__(self, model: nn.Module) -> None:
        self.cfg = model.cfg
        self._pipelines: Dict[bool, Compose] = {}

    def pipeline(self, from_ndarray: bool) -> Compose:
        if from_ndarray not in self._pipelines:
            self._pipelines[from_ndarray] = build_test_pipeline(
                self.cfg, from_ndarray)
        return self._pipelines[from_ndarray]

    def query(self, img: ImageType, bbox: Sequence[float]) -> dict:
        """Pipeline output of a query image with its box as the only
        ground-truth box (``is_query=True``)."""
        try:
            bbox = [
                float(v) for v in np.asarray(bbox, dtype=np.float64).ravel()
            ]
        except (TypeError, ValueError) as e:
            raise SearchInputError(f'query box {bbox!r}: expected 4 numbers '
                                   '[x1, y1, x2, y2]') from e
        instance = dict(bbox=bbox, bbox_label=0, ignore_flag=0,
                        person_id=-1, person_label=-1)
        return self.load(img, [instance], True, check_box=bbox)

    def gallery(self, img: ImageType, idx: Optional[int] = None) -> dict:
        """Pipeline output of a gallery image."""
        name = None if idx is None else gallery_name(img, idx)
        return self.load(img, [], False, name=name)

    def load(self,
             img: ImageType,
             instances: List[dict],
             is_query: bool,
             check_box: Optional[List[float]] = None,
             name: Optional[str] = None) -> dict:
        """``dict(inputs, data_samples)`` of one image; ``check_box``: a
        query box validated against the loaded image."""
        from_ndarray = isinstance(img, np.ndarray)
        name = name or _image_name(img)
        pipeline = self.pipeline(from_ndarray)
        results = dict(img_id=0, instances=instances, is_query=is_query,
                       query_ann_id=-1, cam_id=-1)
        if from_ndarray:
            results['img'] = _check_array(img, name)
        else:
            results['img_path'] = str(img)
        results = _load_image(pipeline.transforms[0], results, name)
        if check_box is not None:
            check_query_box(check_box, results['ori_shape'], name)
        data = Compose(pipeline.transforms[1:])(results)
        return dict(inputs=data['inputs'], data_samples=data['data_samples'])


def gallery_name(img: ImageType, idx: int) -> str:
    return str(img) if isinstance(img, (str, Path)) else f'gallery image {idx}'


def _image_name(img: ImageType) -> str:
    return 'the image array' if isinstance(img, np.ndarray) else str(img)


def _load_image(loader, results: dict, name: str) -> dict:
    """Apply the pipeline's loading transform; errors name the image."""
    try:
        loaded = loader(results)
    except Exception as e:  # any decoder / file-backend failure
        raise SearchInputError(f'cannot read image {name}: {e}') from e
    if loaded is None or loaded.get('img') is None:
        raise SearchInputError(f'cannot read image {name}')
    return loaded


def _check_array(img: np.ndarray, name: str) -> np.ndarray:
    """A BGR (H, W, 3) array; grayscale (H, W) is converted."""
    if img.ndim == 2:
        img = mmcv.gray2bgr(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise SearchInputError(
            f'{name}: expected an (H, W, 3) BGR image array, got shape '
            f'{img.shape}')
    return img


def check_query_box(bbox: Sequence[float], img_shape: Tuple[int, int],
                    name: str) -> None:
    """Raise :class:`SearchInputError` unless ``bbox`` [x1, y1, x2, y2] is a
    positive-size box inside an image of shape (h, w)."""
    height, width = img_shape[:2]
    where = f'query box {list(bbox)} of {name} ({width}x{height})'
    if len(bbox) != 4 or not np.all(np.isfinite(bbox)):
        raise SearchInputError(f'{where}: expected 4 finite numbers '
                               '[x1, y1, x2, y2]')
    x1, y1, x2, y2 = bbox
    if x2 <= x1 or y2 <= y1:
        raise SearchInputError(f'{where} has a non-positive size '
                               '(need x2 > x1 and y2 > y1)')
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise SearchInputError(f'{where} lies outside the image')


def is_single_image(imgs) -> bool:
    return isinstance(imgs, (str, Path, np.ndarray))
