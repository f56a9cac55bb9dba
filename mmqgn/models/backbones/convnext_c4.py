"""ConvNeXt split into a C4 backbone and a conv5 RoI head (SeqNeXt).

gfn_seqnext.md §2.2 and decision 12: the "conv1-4" backbone is the stem and
stages 1-3 of ConvNeXt (stride 16, C4 channels); the conv5 head is the last
downsample layer and stage 4 (C5 channels), without the classifier's output
norm. Both parts are built from mmpretrain's :class:`ConvNeXt`, so the
stochastic-depth rates follow the whole network's linear schedule (the
stage-4 blocks of every head copy use the top rates) and the parameter names
match mmpretrain ImageNet checkpoints (``Pretrained`` with
``prefix='backbone.'`` loads either part).
"""
from typing import Optional, Tuple, Union

import torch.nn as nn
from mmpretrain.models.backbones import ConvNeXt
from torch import Tensor

from mmqgn.registry import MODELS
from ..utils import global_pool

# the last stage: its downsample layer and blocks form the conv5 head
C5_STAGE = 3


def _convnext_kwargs(arch: Union[str, dict], drop_path_rate: float,
                     layer_scale_init_value: float, with_cp: bool,
                     init_cfg: Optional[dict]) -> dict:
    """Arguments of a headless mmpretrain ConvNeXt (no output norm)."""
    kwargs = dict(
        arch=arch,
        drop_path_rate=drop_path_rate,
        layer_scale_init_value=layer_scale_init_value,
        out_indices=[],
        frozen_stages=0,
        gap_before_final_norm=False,
        with_cp=with_cp)
    if init_cfg is not None:
        kwargs['init_cfg'] = init_cfg
    return kwargs


@MODELS.register_module()
class ConvNeXtC4(ConvNeXt):
    """ConvNeXt "conv1-4": stem + stages 1-3, one stride-16 output.

    Shapes: images (B, 3, H, W) -> ``(F4,)`` with F4 (B, C4, H/16, W/16);
    C4 = ``channels[2]`` (tiny/small 384, base 512).

    Only the stem (``downsample_layers[0]``) is frozen when ``frozen_stem``
    (decision 12; mmpretrain's ``frozen_stages=1`` would freeze stage 1 too).

    Args:
        arch (str | dict): 'tiny', 'small', 'base', ... or a dict with
            ``depths`` and ``channels`` (4 stages each). Defaults to 'base'.
        drop_path_rate (float): stochastic depth of the last block of the
            whole 4-stage network (torchvision defaults: T 0.1, S 0.4,
            B 0.5). Defaults to 0.5.
        layer_scale_init_value (float): Defaults to 1e-6.
        frozen_stem (bool): freeze the stem. Defaults to True.
        with_cp (bool): checkpoint the blocks. Defaults to False.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 drop_path_rate: float = 0.5,
                 layer_scale_init_value: float = 1e-6,
                 frozen_stem: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(**_convnext_kwargs(arch, drop_path_rate,
                                            layer_scale_init_value, with_cp,
                                            init_cfg))
        self.downsample_layers = self.downsample_layers[:C5_STAGE]
        self.stages = self.stages[:C5_STAGE]
        self.frozen_stem = frozen_stem
        self.out_channels = self.channels[C5_STAGE - 1]
        self._freeze_stages()

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """(B, 3, H, W) -> ((B, C4, H/16, W/16),)."""
        for downsample, stage in zip(self.downsample_layers, self.stages):
            x = stage(downsample(x))
        return (x, )

    def train(self, mode: bool = True) -> 'ConvNeXtC4':
        """Set the mode; a frozen stem stays in eval mode."""
        super().train(mode)
        return self

    def _freeze_stages(self) -> None:
        """Freeze the stem only (called by ``train`` too)."""
        if not getattr(self, 'frozen_stem', False):
            return
        stem = self.downsample_layers[0]
        stem.eval()
        for param in stem.parameters():
            param.requires_grad = False


@MODELS.register_module()
class ConvNeXtC5Head(ConvNeXt):
    """ConvNeXt conv5 head: last downsample (LN + 2x2/2 conv) + stage 4.

    The RoI "shared head" of SeqNeXt (the ``Head`` of §2.2), used once per
    copy (stage 1, stage 2, GFN scene branch). The output norm of the
    classifier is not applied.

    Shapes: (N, C4, S, S) -> (N, C5) global ``pool``-ed (max, as the
    reference) or (N, C5, S/2, S/2) when ``pool`` is None; C5 =
    ``channels[3]`` (tiny/small 768, base 1024).

    Args:
        arch, drop_path_rate, layer_scale_init_value, with_cp, init_cfg: as
            :class:`ConvNeXtC4` (use the backbone's values so that the
            stage-4 drop-path rates follow the whole network's schedule).
        pool (str, optional): 'max', 'avg' or None. Defaults to 'max'.
    """

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 drop_path_rate: float = 0.5,
                 layer_scale_init_value: float = 1e-6,
                 pool: Optional[str] = 'max',
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(**_convnext_kwargs(arch, drop_path_rate,
                                            layer_scale_init_value, with_cp,
                                            init_cfg))
        # keep the checkpoint names ``*.3.*``: parameter-free placeholders
        for i in range(C5_STAGE):
            self.downsample_layers[i] = nn.Identity()
            self.stages[i] = nn.Identity()
        self.pool = pool
        self.in_channels = self.channels[C5_STAGE - 1]
        self.out_channels = self.channels[C5_STAGE]

    def forward(self, x: Tensor) -> Tensor:
        """(N, C4, S, S) -> (N, C5) pooled, or (N, C5, S/2, S/2)."""
        x = self.stages[C5_STAGE](self.downsample_layers[C5_STAGE](x))
        return x if self.pool is None else global_pool(x, self.pool)
