from .person_embedding_head import PersonEmbeddingHead
from .qsimnet import QSimNet

__all__ = ['PersonEmbeddingHead', 'QSimNet']
