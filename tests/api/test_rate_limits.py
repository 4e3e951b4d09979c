"""Per-user write limits in Postgres (PostgREST's db-pre-request hook): 429 with Retry-After,
for direct PostgREST clients and through the API alike; other users and reads are unaffected."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer
from tests.support import make_user, rest_client

LIMIT = 3


@pytest.fixture
def low_limit(db: psycopg.Connection) -> Iterator[None]:
    db.execute("update private.rate_limits set writes_per_minute = %s", (LIMIT,))
    try:
        yield
    finally:
        db.execute("update private.rate_limits set writes_per_minute = 600")


@pytest.fixture
def users(stack: LocalStack) -> Iterator[tuple[User, User]]:
    pair = (make_user(stack, "limited"), make_user(stack, "unaffected"))
    yield pair
    for user in pair:
        stack.delete_user(user)


def _write(stack: LocalStack, token: str, n: int) -> int:
    with rest_client(stack, token) as http:
        return http.post(
            "/documents",
            json={
                "title": f"doc {n}",
                "content_hash": f"{n % 10}" * 64,
                "embedding_model": "test-model",
            },
        ).status_code


def test_writes_over_the_limit_get_429_with_retry_after(
    stack: LocalStack,
    users: tuple[User, User],
    low_limit: None,
    db: psycopg.Connection,
    api: TestClient,
) -> None:
    limited, other = users
    token = stack.access_token(limited)
    # Counters are per minute: start early in one so all the writes below share it.
    seconds = datetime.now(UTC).second
    if seconds > 45:
        time.sleep(61 - seconds)
    assert [_write(stack, token, n) for n in range(LIMIT)] == [201] * LIMIT
    with rest_client(stack, token) as http:
        refused = http.post(
            "/documents",
            json={
                "title": "one too many",
                "content_hash": "f" * 64,
                "embedding_model": "test-model",
            },
        )
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Marking a read point (the edge, after waiting for the worker) stores nothing: not limited,
    # so a write that went through is never answered 429 for the wait after it.
    with rest_client(stack, token) as http:
        marked = http.post("/rpc/mark_read_point", json={})
    assert marked.status_code in (200, 204), marked.text
    assert marked.headers["x-kb-write-xid"].isdigit()
    # The refused write was not stored.
    count = db.execute(
        "select count(*) from public.documents where owner_id = %s", (limited.id,)
    ).fetchone()
    assert count == (LIMIT,)
    # Through the API: the same limit, as a 429 with Retry-After.
    response = api.post(
        "/v1/documents", headers=bearer(token), json={"title": "via api", "content": "limited text"}
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) >= 1
    # A file upload is the same write: the same limit, and nothing of the file is stored.
    upload = api.post(
        "/v1/documents/upload",
        headers=bearer(token),
        files={"file": ("limited.md", b"# Limited\n\nAn upload over the write limit.")},
    )
    assert upload.status_code == 429, upload.text
    assert upload.json()["error"]["code"] == "rate_limited"
    assert db.execute(
        "select count(*) from public.documents where owner_id = %s", (limited.id,)
    ).fetchone() == (LIMIT,)
    # Reads go on; other users are unaffected.
    with rest_client(stack, token) as http:
        assert http.get("/documents").status_code == 200
    assert _write(stack, stack.access_token(other), 0) == 201


def test_writes_the_database_refused_through_the_edge_count_toward_the_limit(
    stack: LocalStack,
    users: tuple[User, User],
    low_limit: None,
    db: psycopg.Connection,
    api: TestClient,
) -> None:
    """A refused write rolls back its own count, so the edge reports it: LIMIT writes into a
    workspace the caller may not write to use up the minute, and the next good write is a 429."""
    limited, other = users
    token = stack.access_token(limited)
    row = db.execute(
        "insert into public.workspaces (name, created_by) values ('not theirs', %s) returning id",
        (other.id,),
    ).fetchone()
    assert row is not None
    seconds = datetime.now(UTC).second
    if seconds > 45:
        time.sleep(61 - seconds)
    for n in range(LIMIT):
        refused = api.post(
            "/v1/documents",
            headers=bearer(token),
            json={"title": f"refused {n}", "content": "text", "workspace_id": str(row[0])},
        )
        assert refused.status_code == 403, refused.text
    assert _write(stack, token, 0) == 429
    assert _write(stack, stack.access_token(other), 0) == 201
