"""The embedder interface and batching."""

import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from knowledge_core.errors import Unavailable

DIMENSIONS = 384
LOCAL_MODEL = "all-MiniLM-L6-v2"  # the offline model, in-process (local.py) or shared (shared.py)
Kind = Literal["query", "passage"]


class EmbedderOverloaded(Unavailable):
    """The local model's queue is full: retry in a second (a 503 with Retry-After: 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, service="embedder", retry_after=1)


class Embedder(Protocol):
    """Turns texts into unit vectors of DIMENSIONS floats, in input order."""

    @property
    def model(self) -> str: ...

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        """`token` is the caller's JWT, for providers that act as the caller (Edge Function);
        `kind` lets a local model serve a waiting search before an ingest's passages."""
        ...

    async def aclose(self) -> None: ...


def check_vectors(model: str, texts: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
    """A provider that answers with the wrong shape is as unavailable as one that is down."""
    if len(vectors) != len(texts):
        raise Unavailable(
            f"{model} returned {len(vectors)} vectors for {len(texts)} texts", service="embedder"
        )
    for vector in vectors:
        if len(vector) != DIMENSIONS or not all(math.isfinite(x) for x in vector):
            raise Unavailable(
                f"{model} returned a vector that is not {DIMENSIONS} finite numbers",
                service="embedder",
            )


async def embed_in_batches(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch_size: int,
    token: str | None = None,
    on_progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> list[list[float]]:
    """Embed many texts a batch at a time, reporting (done, total) after each batch."""
    # A provider may cap its batch (the Edge Function takes 64 inputs a request).
    batch_size = min(batch_size, getattr(embedder, "max_batch", batch_size))
    vectors: list[list[float]] = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        embedded = await embedder.embed(batch, token=token)
        check_vectors(embedder.model, batch, embedded)
        vectors.extend(embedded)
        if on_progress is not None:
            await on_progress(len(vectors), len(texts))
    return vectors
