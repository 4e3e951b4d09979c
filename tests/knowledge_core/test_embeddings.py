"""Embedders and the query cache. The OpenAI-compatible client is exercised against a real HTTP
server on loopback that speaks the /v1/embeddings protocol with the real local model."""

import asyncio
import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from knowledge_core.embeddings import QueryEmbeddingCache, embed_in_batches
from knowledge_core.embeddings.base import Kind
from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.embeddings.remote import OpenAICompatibleEmbedder
from knowledge_core.errors import Unavailable
from knowledge_core.settings import EmbedderSettings


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    # float32 (the default): the reference model's vectors on any CPU (test_local_model.py).
    return LocalEmbedder(EmbedderSettings())


class CountingLocal:
    """The local model, counting calls (the cache's job is to save them)."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner = inner
        self.calls = 0

    @property
    def model(self) -> str:
        return self.inner.model

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        self.calls += 1
        await asyncio.sleep(0.05)  # long enough for concurrent callers to overlap
        return await self.inner.embed(texts)

    async def aclose(self) -> None:
        return None


def test_local_model_gives_unit_vectors_that_rank_meaning(local: LocalEmbedder) -> None:
    a, b, c = asyncio.run(local.embed(["cats sleep a lot", "felines nap often", "tax forms"]))
    assert len(a) == 384
    assert abs(sum(x * x for x in a) - 1) < 1e-4

    def dot(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert dot(a, b) > dot(a, c)


def test_query_cache_saves_repeated_and_concurrent_calls(local: LocalEmbedder) -> None:
    counting = CountingLocal(local)
    cache = QueryEmbeddingCache(counting, max_entries=2)

    async def scenario() -> None:
        first, second = await asyncio.gather(
            cache.embed_query("same question"), cache.embed_query("same question")
        )
        assert first == second
        assert counting.calls == 1  # the concurrent caller shared the call in flight
        await cache.embed_query("same question")
        assert counting.calls == 1 and cache.hits == 1
        await cache.embed_query("two")
        await cache.embed_query("three")  # evicts "same question" (LRU, 2 entries)
        await cache.embed_query("same question")
        assert counting.calls == 4

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def openai_like(local: LocalEmbedder) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A loopback server speaking OpenAI's embeddings protocol, answering out of order."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append({"path": self.path, "auth": self.headers["Authorization"], **body})
            vectors = asyncio.run(local.embed(body["input"]))
            data = [{"index": i, "embedding": v} for i, v in enumerate(vectors)][::-1]
            payload = json.dumps({"data": data, "model": body["model"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    server.shutdown()


def test_openai_compatible_client(
    openai_like: tuple[str, list[dict[str, Any]]], local: LocalEmbedder
) -> None:
    url, seen = openai_like
    embedder = OpenAICompatibleEmbedder(url, "text-embedding-3-small", "sk-test", timeout=10)
    texts = [f"passage {i}" for i in range(5)]

    async def scenario() -> list[list[float]]:
        try:
            return await embed_in_batches(embedder, texts, batch_size=2)
        finally:
            await embedder.aclose()

    vectors = asyncio.run(scenario())
    expected = asyncio.run(local.embed(texts))
    # Back in input order (the server answered in reverse); batching may move the last digits.
    assert np.allclose(np.array(vectors), np.array(expected), atol=1e-4)
    assert [len(r["input"]) for r in seen] == [2, 2, 1]
    assert seen[0]["path"] == "/v1/embeddings"
    assert seen[0]["dimensions"] == 384
    assert seen[0]["model"] == "text-embedding-3-small"
    assert seen[0]["auth"] == "Bearer sk-test"


def test_an_unreachable_provider_is_unavailable() -> None:
    embedder = OpenAICompatibleEmbedder("http://127.0.0.1:9/v1", "m", "k", timeout=2)

    async def scenario() -> None:
        try:
            await embedder.embed(["x"])
        finally:
            await embedder.aclose()

    with pytest.raises(Unavailable) as error:
        asyncio.run(scenario())
    assert error.value.service == "embedder"
