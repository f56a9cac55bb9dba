from .base_embedding_head import BaseEmbeddingHead
from .person_embedding_head import PersonEmbeddingHead
from .pga_embedding_head import PGAEmbeddingHead
from .prototype_guided_attention import PrototypeGuidedAttention
from .qsimnet import QSimNet

__all__ = [
    'BaseEmbeddingHead', 'PersonEmbeddingHead', 'PGAEmbeddingHead',
    'PrototypeGuidedAttention', 'QSimNet'
]
