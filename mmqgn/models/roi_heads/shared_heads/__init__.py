from .res_layer_c5 import ResLayerC5

__all__ = ['ResLayerC5']
