"""An LRU cache of query embeddings: the same question asked again costs no model call.

It stores vectors, not coroutines (an awaited coroutine cannot be awaited again), and callers
asking for the same text at the same time share one model call.
"""

import asyncio
from collections import OrderedDict

from knowledge_core.embeddings.base import Embedder, check_vectors


class QueryEmbeddingCache:
    def __init__(self, embedder: Embedder, max_entries: int = 1024) -> None:
        self.embedder = embedder
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[list[float]]] = {}
        self.hits = 0
        self.misses = 0

    async def embed_query(self, text: str, *, token: str | None = None) -> list[float]:
        cached = self._vectors.get(text)
        if cached is not None:
            self._vectors.move_to_end(text)
            self.hits += 1
            return cached
        pending = self._pending.get(text)
        if pending is not None:
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._pending[text] = future
        try:
            vectors = await self.embedder.embed([text], token=token, kind="query")
            check_vectors(self.embedder.model, [text], vectors)
            vector = vectors[0]
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: other waiters re-raise it themselves
            raise
        finally:
            self._pending.pop(text, None)
        future.set_result(vector)
        if self.max_entries:
            self._vectors[text] = vector
            while len(self._vectors) > self.max_entries:
                self._vectors.popitem(last=False)
        return vector
