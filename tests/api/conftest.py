"""The API in-process (real lifespan, real local model), against the running stack."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
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


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Iterator[TestClient]:
    """Documents over 5,000 characters answer at once (202, pending) unless asked to wait."""
    app = create_app(edge_settings(stack, background_threshold_chars=5000))
    with TestClient(app, raise_server_exceptions=False) as client:
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
