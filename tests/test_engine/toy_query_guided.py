"""A toy query-guided model that implements only the declared interface
(:class:`QueryGuidedDetector`): no mmqgn detector code, no backbone.

Its "detections" in a gallery image are the cells of a fixed ``grid`` x
``grid`` partition of the image (score 1); a cell's similarity to the query
is ``exp(-|c_cell - c_query|^2 / t)`` with ``c`` the mean normalised colour
of the cell / of the query box and ``t`` a parameter. What it may reuse:
the query colour (once per query) and each gallery image's cell colours
and boxes (once per image).
"""
import copy
from typing import List, Sequence

import torch
import torch.nn as nn
from mmdet.structures.bbox import get_box_tensor, scale_boxes
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from mmqgn.models.data_preprocessors import split_pairs
from mmqgn.models.detectors import QueryGuidedDetector
from mmqgn.registry import MODELS


@MODELS.register_module(force=True)
class ToyQueryGuided(BaseModel, QueryGuidedDetector):
    """See the module docstring."""

    def __init__(self, grid: int = 2, data_preprocessor=None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.grid = grid
        self.temperature = nn.Parameter(torch.ones(()))
        self.calls = dict(encode_query=0, encode_gallery=0, predict=0)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise NotImplementedError(f'ToyQueryGuided has no {mode!r} mode')

    # ---------------------------------------------------------- pieces
    @staticmethod
    def _query_colour(img: torch.Tensor, sample) -> torch.Tensor:
        x1, y1, x2, y2 = get_box_tensor(
            sample.gt_instances.bboxes)[0].round().long().tolist()
        return img[:, y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)].mean(
            dim=(1, 2))

    def _cells(self, img: torch.Tensor, sample) -> tuple:
        """(K, 3) cell colours and (K, 4) cell boxes (input pixels)."""
        h, w = sample.metainfo['img_shape'][:2]
        colours, boxes = [], []
        for i in range(self.grid):
            for j in range(self.grid):
                y1, y2 = h * i // self.grid, h * (i + 1) // self.grid
                x1, x2 = w * j // self.grid, w * (j + 1) // self.grid
                colours.append(img[:, y1:y2, x1:x2].mean(dim=(1, 2)))
                boxes.append([x1, y1, x2, y2])
        return torch.stack(colours), torch.tensor(boxes, dtype=torch.float32)

    def _pred(self, colour: torch.Tensor, cells: tuple, sample):
        cell_colours, boxes = cells
        sims = torch.exp(-((cell_colours - colour)**2).sum(1) /
                         self.temperature)
        sample.pred_instances = InstanceData(
            bboxes=scale_boxes(boxes,
                               [1 / s for s in sample.scale_factor]),
            scores=torch.ones(len(boxes)),
            sims=sims,
            labels=torch.zeros(len(boxes), dtype=torch.long))
        return sample

    def _plain(self, item: dict) -> tuple:
        data = self.data_preprocessor(
            dict(inputs=[item['inputs']],
                 data_samples=[copy.deepcopy(item['data_samples'])]), False)
        return data['inputs'][0], data['data_samples'][0]

    # ------------------------------------------------------- interface
    def predict(self, batch_inputs, batch_data_samples, rescale=True):
        self.calls['predict'] += 1
        queries, galleries = split_pairs(batch_data_samples)
        q_in, g_in = split_pairs(batch_inputs)
        return [
            self._pred(self._query_colour(qi, qs), self._cells(gi, gs), gs)
            for qi, qs, gi, gs in zip(q_in, queries, g_in, galleries)
        ]

    def encode_query(self, item: dict) -> torch.Tensor:
        self.calls['encode_query'] += 1
        return self._query_colour(*self._plain(item))

    def encode_gallery(self, item: dict) -> tuple:
        self.calls['encode_gallery'] += 1
        img, sample = self._plain(item)
        return self._cells(img, sample), sample

    def predict_pairs(self, query, galleries: Sequence,
                      query_ann_id: int) -> List:
        out = []
        for cells, sample in galleries:
            sample = copy.deepcopy(sample)
            sample.set_metainfo(dict(query_ann_id=int(query_ann_id),
                                     is_query=False))
            out.append(self._pred(query, cells, sample))
        return out
