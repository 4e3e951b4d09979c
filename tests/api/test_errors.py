"""Every error status the API promises, each from a real cause, and recovery without restart."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from local_stack import postgres, postgrest
from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer, edge_settings
from tests.support import insert_chunk, insert_document, make_user, unit_vector


@pytest.fixture(scope="module")
def user(stack: LocalStack) -> Iterator[User]:
    person = make_user(stack, "errors")
    yield person
    stack.delete_user(person)


@pytest.fixture
def token(stack: LocalStack, user: User) -> str:
    return stack.access_token(user)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-Id"]
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "t" * 501, "content": "x"}, "body.title"),
        ({"title": "t", "content": ""}, "body.content"),
        ({"title": "t", "content": "x", "metadata": [1, 2]}, "body.metadata"),
        ({"title": "t", "content": "x", "workspace_id": "not-a-uuid"}, "body.workspace_id"),
    ],
)
def test_422_names_the_field_on_ingest(
    api: TestClient, token: str, body: dict[str, Any], field: str
) -> None:
    error = assert_error(
        api.post("/v1/documents", headers=bearer(token), json=body), 422, "invalid_input"
    )
    assert error["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "q", "k": 500}, "body.k"),
        ({"query": ""}, "body.query"),
        ({"query": "q", "threshold": 3}, "body.threshold"),
        ({"query": "q", "mode": "fuzzy"}, "body.mode"),
    ],
)
def test_422_names_the_field_on_search(
    api: TestClient, token: str, body: dict[str, Any], field: str
) -> None:
    error = assert_error(
        api.post("/v1/search", headers=bearer(token), json=body), 422, "invalid_input"
    )
    assert error["field"] == field


def test_422_for_a_malformed_metadata_filter(api: TestClient, token: str) -> None:
    response = api.get("/v1/documents", headers=bearer(token), params={"metadata": "{nope"})
    assert assert_error(response, 422, "invalid_input")["field"] == "metadata"


def test_404_for_unknown_ids(api: TestClient, token: str) -> None:
    unknown = uuid.uuid4()
    assert_error(api.get(f"/v1/documents/{unknown}", headers=bearer(token)), 404, "not_found")
    assert_error(api.delete(f"/v1/documents/{unknown}", headers=bearer(token)), 404, "not_found")
    assert_error(
        api.get(f"/v1/documents/{unknown}/status", headers=bearer(token)), 404, "not_found"
    )
    assert_error(
        api.get(f"/v1/workspaces/{unknown}/members", headers=bearer(token)), 404, "not_found"
    )


def test_new_text_for_a_document_of_another_model_waits_for_the_worker(
    api: TestClient, token: str, user: User, db: psycopg.Connection
) -> None:
    """Passages of two models never mix: the text is stored and the document queued, whole."""
    document = insert_document(db, user, None, "old model", model="some-older-model")
    insert_chunk(db, document, 0, "embedded by another model", unit_vector(np.random.default_rng()))
    response = api.patch(
        f"/v1/documents/{document}", headers=bearer(token), json={"content": "new text"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Until the worker is done, the old passages keep answering searches.
    assert body["embedding_status"] in ("pending", "ready")
    if body["embedding_status"] == "pending":
        assert body["embedding_model"] == "some-older-model"
        assert [c["content"] for c in body["passages"]] == ["embedded by another model"]
    row = db.execute(
        "select content, content_hash = encode(sha256('new text'::bytea), 'hex') "
        "from public.documents where id = %s",
        (document,),
    ).fetchone()
    assert row == ("new text", True)


def test_413_for_a_document_over_the_limit(stack: LocalStack, token: str) -> None:
    app = create_app(edge_settings(stack, max_document_chars=5000))
    with TestClient(app) as small:
        response = small.post(
            "/v1/documents", headers=bearer(token), json={"title": "big", "content": "word " * 1200}
        )
        assert assert_error(response, 413, "payload_too_large")["field"] == "content"
        # A body far over the limit is refused before it is read.
        response = small.post(
            "/v1/documents",
            content=b"x" * 200_000,
            headers={**bearer(token), "Content-Type": "application/json"},
        )
        assert_error(response, 413, "payload_too_large")


def test_503_when_the_shared_embedder_is_down(
    stack: LocalStack, token: str, tmp_path: Path
) -> None:
    settings = edge_settings(stack, embedder_url=f"unix://{tmp_path / 'nobody-listens.sock'}")
    with TestClient(create_app(settings)) as down:
        response = down.post("/v1/search", headers=bearer(token), json={"query": "anyone?"})
        assert assert_error(response, 503, "unavailable")["service"] == "embedder"
        assert response.headers["Retry-After"] == "5"


def test_writes_do_not_need_the_edges_embedder(
    stack: LocalStack, token: str, db: psycopg.Connection
) -> None:
    """The edge embeds only queries: with its model unreachable, searches are a 503 while a
    write is stored and embedded by the worker like any other."""
    settings = edge_settings(
        stack,
        embedding_provider="openai",
        openai_api_key="unused",
        openai_base_url="http://127.0.0.1:9/v1",
        embedding_timeout_seconds=2,
    )
    title = f"stored anyway {uuid.uuid4()}"
    with TestClient(create_app(settings)) as down:
        error = assert_error(
            down.post("/v1/search", headers=bearer(token), json={"query": "q"}), 503, "unavailable"
        )
        assert error["service"] == "embedder"
        response = down.post(
            "/v1/documents", headers=bearer(token), json={"title": title, "content": "some text"}
        )
        assert response.status_code == 201, response.text
        assert response.json()["embedding_status"] == "ready"
    row = db.execute(
        "select count(*) from public.document_chunks c join public.documents d "
        "on d.id = c.document_id where d.title = %s",
        (title,),
    )
    assert row.fetchone() == (1,)


def _wait_ready(api: TestClient, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        status = api.get("/health/ready").status_code
        if status == 200:
            return status
        time.sleep(0.2)
    return status


def test_503_while_postgrest_is_down_then_recovery(
    api: TestClient, stack: LocalStack, token: str
) -> None:
    assert api.get("/health/ready").status_code == 200
    postgrest.stop(stack.settings)
    try:
        error = assert_error(
            api.post("/v1/search", headers=bearer(token), json={"query": "anything"}),
            503,
            "unavailable",
        )
        assert error["service"] == "postgrest"
        assert_error(api.get("/health/ready"), 503, "unavailable")
    finally:
        postgrest.start(stack.settings, stack.secrets)
    assert _wait_ready(api) == 200
    assert api.post("/v1/search", headers=bearer(token), json={"query": "x"}).status_code == 200


def test_503_while_the_database_is_down_then_recovery(
    api: TestClient, stack: LocalStack, token: str
) -> None:
    postgres.stop(stack.settings)
    try:
        error = assert_error(
            api.post("/v1/search", headers=bearer(token), json={"query": "anything else"}),
            503,
            "unavailable",
        )
        assert error["service"] == "database"
        assert_error(api.get("/health/ready"), 503, "unavailable")
    finally:
        postgres.start(stack.settings)
    assert _wait_ready(api, timeout=60) == 200
    assert api.post("/v1/search", headers=bearer(token), json={"query": "y"}).status_code == 200
