"""The API in-process (real lifespan, real local model), against the running stack."""

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from knowledge_core.embeddings.base import Kind
from knowledge_core.settings import Settings
from local_stack.stack import LocalStack


def edge_settings(stack: LocalStack, **overrides: Any) -> Settings:
    """The edge's settings for the local stack, as `kb-stack status -o env` would give them."""
    values: dict[str, Any] = {
        "supabase_url": stack.settings.api_url,
        "supabase_anon_key": stack.anon_key,
        "supabase_jwt_secret": stack.secrets.jwt_secret,
        "embedder_url": stack.embedder_url,  # the stack's one model, as its API daemon uses
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class CountingEmbedder:
    """The real embedder, counting the texts it is asked to embed (and as what)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.texts: list[str] = []
        self.kinds: list[Kind] = []

    @property
    def model(self) -> str:
        return str(self.inner.model)

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        self.texts.extend(texts)
        self.kinds.extend(kind for _ in texts)
        result: list[list[float]] = await self.inner.embed(texts, token=token, kind=kind)
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Iterator[TestClient]:
    """Documents over 5,000 characters answer at once (202, pending) unless asked to wait. The
    edge's embedder counts what it embeds."""
    app = create_app(edge_settings(stack, background_threshold_chars=5000))
    with TestClient(app, raise_server_exceptions=False) as client:
        knowledge = app.state.knowledge
        knowledge.embedder = CountingEmbedder(knowledge.embedder)
        knowledge.query_cache.embedder = knowledge.embedder
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def settled(api: TestClient, token: str, document_id: str, seconds: float = 180) -> dict[str, Any]:
    """A document's status once it is no longer pending (a 202's promise), within `seconds`:
    a deadline for the worker, never a timed assertion."""
    deadline = time.monotonic() + seconds
    while True:
        response = api.get(f"/v1/documents/{document_id}/status", headers=bearer(token))
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        if status["embedding_status"] != "pending" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)
