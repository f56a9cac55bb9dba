"""conv5 (res5) RoI head of the C4 person-search detectors.

OIM's "ClsIdenNet" (qgn_qeeps.md §2.1, §2.2; NAE4PS ``RCNNConvHead``):
ResNet stage 4 applied to each RoI, then an optional global pool.
"""
from typing import Optional

import torch.nn as nn
from mmdet.models.backbones import ResNet
from mmdet.models.layers import ResLayer as _ResLayer
from mmengine.model import BaseModule
from torch import Tensor

from mmqgn.registry import MODELS
from ...utils import global_pool


@MODELS.register_module()
class ResLayerC5(BaseModule):
    """One ResNet stage as a RoI shared head, with ``base_channels``.

    Like mmdet's ``ResLayer`` shared head, plus ``base_channels`` (so that a
    slim backbone, e.g. ``ResNet(base_channels=16)``, has a matching head)
    and ``pool``. The stage is registered as ``layer{stage + 1}`` so that
    torchvision / mmdet ResNet checkpoints load into it.

    Shapes: (N, C4, H, W) -> (N, C5, H/stride, W/stride) when ``pool`` is
    None, else (N, C5) global max/avg pooled; C4 = base_channels * 2**(stage
    - 1) * expansion and C5 = base_channels * 2**stage * expansion (ResNet-50,
    stage 3: 1024 -> 2048).

    Args:
        depth (int): ResNet depth (18, 34, 50, 101, 152).
        stage (int): 0-based index of the ResNet stage. Defaults to 3 (res5).
        base_channels (int): ResNet base width. Defaults to 64.
        stride (int): stride of the first block. Defaults to 2.
        dilation (int): Defaults to 1.
        style (str): 'pytorch' or 'caffe'. Defaults to 'pytorch'.
        norm_cfg (dict): Defaults to trainable BN.
        norm_eval (bool): keep BN in eval mode while training.
        with_cp (bool): checkpoint the blocks to save memory.
        pool (str, optional): 'max' (NAE4PS), 'avg' or None.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint='torchvision://resnet50')``.
    """

    def __init__(self,
                 depth: int = 50,
                 stage: int = 3,
                 base_channels: int = 64,
                 stride: int = 2,
                 dilation: int = 1,
                 style: str = 'pytorch',
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 with_cp: bool = False,
                 pool: Optional[str] = 'max',
                 init_cfg: Optional[dict] = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=1, layer=['_BatchNorm'])
            ]
        super().__init__(init_cfg)
        block, stage_blocks = ResNet.arch_settings[depth]
        self.stage = stage
        self.norm_eval = norm_eval
        self.pool = pool
        self.in_channels = base_channels * 2**(stage - 1) * block.expansion
        self.out_channels = base_channels * 2**stage * block.expansion
        layer = _ResLayer(
            block,
            self.in_channels,
            base_channels * 2**stage,
            stage_blocks[stage],
            stride=stride,
            dilation=dilation,
            style=style,
            with_cp=with_cp,
            norm_cfg=norm_cfg)
        self.add_module(f'layer{stage + 1}', layer)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C4, H, W) -> (N, C5) pooled, or (N, C5, h, w)."""
        x = getattr(self, f'layer{self.stage + 1}')(x)
        return x if self.pool is None else global_pool(x, self.pool)

    def train(self, mode: bool = True) -> 'ResLayerC5':
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self
