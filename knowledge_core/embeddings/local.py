"""all-MiniLM-L6-v2 in this process, on ONNX Runtime, behind the batching scheduler.

Needs the optional extra `local` (onnxruntime, tokenizers, the packaged weights). The model loads
on first use, in the scheduler's model thread, so importing this module and starting the edge
stay fast. Where the API and the MCP server share a machine, run one `kb-embedder` and point both
at it (EMBEDDER_URL, shared.py) instead of loading a copy in each.
"""

import asyncio
from collections.abc import Sequence

import numpy as np

from knowledge_core.embeddings.base import LOCAL_MODEL, Kind
from knowledge_core.embeddings.onnx_model import OnnxSentenceModel
from knowledge_core.embeddings.scheduler import EmbeddingScheduler
from knowledge_core.errors import Unavailable
from knowledge_core.settings import EmbedderSettings


class LocalEmbedder:
    def __init__(self, settings: EmbedderSettings) -> None:
        self.settings = settings
        self.timeout = settings.embedding_timeout_seconds
        self._model: OnnxSentenceModel | None = None
        self._scheduler = EmbeddingScheduler(
            self._encode, max_pending=settings.embedder_max_pending
        )
        self._lock = asyncio.Lock()

    @property
    def model(self) -> str:
        return LOCAL_MODEL

    @property
    def scheduler(self) -> EmbeddingScheduler:
        return self._scheduler

    def _encode(self, texts: list[str]) -> np.ndarray:
        assert self._model is not None  # load() ran before any request was queued
        return self._model.encode(texts)

    def _load(self) -> OnnxSentenceModel:
        s = self.settings
        return OnnxSentenceModel(s.model_cache_dir, s.local_embedding_precision, s.embedder_threads)

    async def load(self) -> None:
        async with self._lock:
            if self._model is None:
                self._model = await self._scheduler.run_in_model_thread(self._load)

    async def embed_array(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        await self.load()
        try:
            return await asyncio.wait_for(self._scheduler.embed(list(texts), kind), self.timeout)
        except TimeoutError as error:
            raise Unavailable("the local model took too long", service="embedder") from error

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        vectors: list[list[float]] = (await self.embed_array(texts, kind)).tolist()
        return vectors

    async def aclose(self) -> None:
        await self._scheduler.aclose()
        self._model = None
