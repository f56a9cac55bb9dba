"""Siamese ResNet with Query-guided Siamese Squeeze-and-Excitation (QSSE).

qgn_qeeps.md §3 (QGN §3.3.1, QEEPS §4.1) and decision D2: in every residual
block of the QSSE stages, both residual-branch outputs ``U_q`` (B, C, Hq, Wq)
and ``U_g`` (B, C, Hg, Wg) are globally average pooled and concatenated (B, 2C);
``s = sigmoid(fc2(relu(fc1(z))))`` (B, C), fc1: 2C -> 2C/r, fc2: 2C/r -> C,
rescales the residual branch of BOTH streams before the skip add; the usual
post-addition ReLU is kept.

``forward_single`` is the unguided pass (no excitation, the shared weights as
a plain ResNet): query-independent features, e.g. for the scene embeddings of
a Gallery Filter Network (gfn_seqnext.md §3.2) that are cached across queries.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmdet.models.layers import ResLayer
from mmengine.model import BaseModule
from torch import Tensor

from mmqgn.registry import MODELS


class QSSE(BaseModule):
    """The excitation of one block: (B, C), (B, C) feature maps -> s (B, C).

    Args:
        channels (int): C, the block's output channels.
        ratio (int): r, applied to the concatenated 2C vector. Defaults to 16.
        init_bias (float): initial fc2 bias; 0 gives s ~ 0.5 (faithful, T9),
            e.g. 3 starts near identity (s ~ 0.95).
    """

    def __init__(self,
                 channels: int,
                 ratio: int = 16,
                 init_bias: float = 0.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        hidden = 2 * channels // ratio
        self.fc1 = nn.Linear(2 * channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        nn.init.normal_(self.fc2.weight, 0, 0.01)
        nn.init.constant_(self.fc2.bias, init_bias)

    def forward(self, u_q: Tensor, u_g: Tensor) -> Tensor:
        """(B, C, Hq, Wq), (B, C, Hg, Wg) -> shared weights s (B, C)."""
        z = torch.cat([u_q.mean(dim=(2, 3)), u_g.mean(dim=(2, 3))], dim=1)
        return self.fc2(self.fc1(z).relu()).sigmoid()


class _SiameseBlockMixin:
    """Pair forward of an mmdet residual block with an optional ``qsse``.

    ``forward(x)`` stays the plain single-stream mmdet forward.
    ``qsse_ratio=None``: no QSSE; the other arguments are the block's.
    """

    def __init__(self,
                 inplanes: int,
                 planes: int,
                 *args,
                 qsse_ratio: Optional[int] = None,
                 qsse_init_bias: float = 0.0,
                 **kwargs) -> None:
        super().__init__(inplanes, planes, *args, **kwargs)
        self.qsse = None if qsse_ratio is None else QSSE(
            planes * self.expansion, qsse_ratio, qsse_init_bias)

    def forward_pair(self, x_q: Tensor, x_g: Tensor) -> Tuple[Tensor, Tensor]:
        """Query and gallery block inputs -> block outputs (same shapes)."""
        u_q, id_q = self.residual(x_q)
        u_g, id_g = self.residual(x_g)
        if self.qsse is not None:
            s = self.qsse(u_q, u_g)[:, :, None, None]
            u_q, u_g = u_q * s, u_g * s
        return self.relu(u_q + id_q), self.relu(u_g + id_g)

    def forward_single(self, x: Tensor) -> Tensor:
        """Unguided single-stream block: ``relu(U + skip)`` without the
        excitation (the pair stream of a block without QSSE)."""
        u, identity = self.residual(x)
        return self.relu(u + identity)

    def _identity(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)


class QSSEBasicBlock(_SiameseBlockMixin, BasicBlock):
    """mmdet ``BasicBlock`` with a QSSE (``qsse_ratio=None``: none)."""

    def residual(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """x -> (residual branch U before the add, skip path)."""
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return out, self._identity(x)


class QSSEBottleneck(_SiameseBlockMixin, Bottleneck):
    """mmdet ``Bottleneck`` with a QSSE (``qsse_ratio=None``: none)."""

    def residual(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """x -> (residual branch U before the add, skip path)."""
        out = self.relu(self.norm1(self.conv1(x)))
        out = self._plugins(out, 'after_conv1_plugin_names')
        out = self.relu(self.norm2(self.conv2(out)))
        out = self._plugins(out, 'after_conv2_plugin_names')
        out = self.norm3(self.conv3(out))
        out = self._plugins(out, 'after_conv3_plugin_names')
        return out, self._identity(x)

    def _plugins(self, x: Tensor, names: str) -> Tensor:
        if not self.with_plugins:
            return x
        return self.forward_plugin(x, getattr(self, names))


_PAIR_BLOCKS = {BasicBlock: QSSEBasicBlock, Bottleneck: QSSEBottleneck}


@MODELS.register_module()
class QSSEResNet(ResNet):
    """Siamese (shared-weight) mmdet ResNet with QSSE in every block.

    Calling conventions:

    - ``forward(query, gallery)`` -> ``(query_outs, gallery_outs)``, each a
      tuple over ``out_indices`` of (B, C_i, H_i, W_i); the two images may
      differ in size. Pair b of the batch is (query[b], gallery[b]).
    - ``forward(x)`` with x (2B, 3, H, W) = ``cat([query, gallery])``
      -> tuple of (2B, C_i, H_i, W_i), query half first (mmdet interface).
    - ``forward_single(x)`` with x (N, 3, H, W) -> tuple of (N, C_i, H_i,
      W_i): the unguided pass (every image alone, no QSSE excitation; equal
      to either stream of ``forward_pair`` when ``with_qsse=False``).

    Args:
        with_qsse (bool): False gives a plain Siamese ResNet (the two streams
            independent; same weights and keys as mmdet ``ResNet``).
        qsse_ratio (int): r. Defaults to 16.
        qsse_stages (tuple[bool]): QSSE per stage (res2..res5). With the C4
            split (``num_stages=3``) this is every block up to conv4.
        qsse_init_bias (float): initial fc2 bias (decision T9).
        **kwargs: mmdet ``ResNet`` arguments (any depth; no ``with_cp``).
    """

    arch_settings = {
        depth: (_PAIR_BLOCKS[block], stages)
        for depth, (block, stages) in ResNet.arch_settings.items()
    }

    def __init__(self,
                 *args,
                 with_qsse: bool = True,
                 qsse_ratio: int = 16,
                 qsse_stages: Tuple[bool, ...] = (True, True, True, True),
                 qsse_init_bias: float = 0.0,
                 **kwargs) -> None:
        assert not kwargs.get('with_cp', False), 'with_cp is not supported'
        self.with_qsse = with_qsse
        self.qsse_ratio = qsse_ratio
        self.qsse_stages = qsse_stages
        self.qsse_init_bias = qsse_init_bias
        super().__init__(*args, **kwargs)

    def make_res_layer(self, **kwargs) -> ResLayer:
        """mmdet ``ResLayer`` whose blocks get this stage's QSSE ratio."""
        stage = int(math.log2(kwargs['planes'] // self.base_channels))
        use = self.with_qsse and self.qsse_stages[stage]
        return ResLayer(
            qsse_ratio=self.qsse_ratio if use else None,
            qsse_init_bias=self.qsse_init_bias,
            **kwargs)

    def _freeze_stages(self) -> None:
        """mmdet's freezing of the stem and ``layer1..frozen_stages``, but
        QSSE always trains (qgn_qeeps.md §3.3, D2: QSSE in every block is
        learned, also in res2 whose ResNet weights ``frozen_stages=1`` keeps
        fixed). Called in ``__init__`` and by every ``train(mode)``; QSSE
        has no normalisation layer, its mode follows the backbone's."""
        super()._freeze_stages()
        for module in self.modules():
            if isinstance(module, QSSE):
                module.train(self.training)
                module.requires_grad_(True)

    @property
    def query_guided(self) -> bool:
        """True iff some block has a QSSE, i.e. each stream's features
        depend on the partner image (qgn_qeeps.md §3.4)."""
        return any(getattr(m, 'qsse', None) is not None
                   for m in self.modules())

    def forward(self, x: Tensor, gallery: Optional[Tensor] = None):
        """See the class docstring for the two calling conventions."""
        if gallery is not None:
            return self.forward_pair(x, gallery)
        assert x.size(0) % 2 == 0, 'expected cat([query, gallery])'
        outs_q, outs_g = self.forward_pair(*x.chunk(2))
        return tuple(torch.cat(pair) for pair in zip(outs_q, outs_g))

    def forward_pair(self, query: Tensor, gallery: Tensor):
        """(B, 3, Hq, Wq), (B, 3, Hg, Wg) -> (query_outs, gallery_outs)."""
        q, g = self._stem(query), self._stem(gallery)
        outs_q, outs_g = [], []
        for i, layer_name in enumerate(self.res_layers):
            for block in getattr(self, layer_name):
                q, g = block.forward_pair(q, g)
            if i in self.out_indices:
                outs_q.append(q)
                outs_g.append(g)
        return tuple(outs_q), tuple(outs_g)

    def forward_single(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(N, 3, H, W) -> unguided outputs, tuple of (N, C_i, H_i, W_i)."""
        x = self._stem(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            for block in getattr(self, layer_name):
                x = block.forward_single(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _stem(self, x: Tensor) -> Tensor:
        if self.deep_stem:
            x = self.stem(x)
        else:
            x = self.relu(self.norm1(self.conv1(x)))
        return self.maxpool(x)
