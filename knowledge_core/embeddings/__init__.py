"""Text to 384-d vectors, behind one interface; the model's name travels with every vector."""

from knowledge_core.embeddings.base import DIMENSIONS, Embedder, embed_in_batches
from knowledge_core.embeddings.cache import QueryEmbeddingCache
from knowledge_core.embeddings.factory import create_embedder

__all__ = ["DIMENSIONS", "Embedder", "QueryEmbeddingCache", "create_embedder", "embed_in_batches"]
