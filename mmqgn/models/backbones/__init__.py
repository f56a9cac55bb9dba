from .qsse_resnet import QSSE, QSSEBasicBlock, QSSEBottleneck, QSSEResNet

__all__ = ['QSSE', 'QSSEBasicBlock', 'QSSEBottleneck', 'QSSEResNet']
