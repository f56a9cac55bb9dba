from .convnext_c4 import ConvNeXtC4, ConvNeXtC5Head
from .qsse_resnet import QSSE, QSSEBasicBlock, QSSEBottleneck, QSSEResNet

__all__ = [
    'ConvNeXtC4', 'ConvNeXtC5Head', 'QSSE', 'QSSEBasicBlock',
    'QSSEBottleneck', 'QSSEResNet'
]
