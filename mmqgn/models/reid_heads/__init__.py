from .person_embedding_head import PersonEmbeddingHead

__all__ = ['PersonEmbeddingHead']
