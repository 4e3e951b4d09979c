"""The running stack's worker, waiting for it, and documents written straight to the tables."""

import time
from collections.abc import Iterator

import psycopg
import pytest

from local_stack.stack import LocalStack
from local_stack.users import User
from tests.support import make_user

# Bounded waits for asynchronous embedding: a deadline, never a timed assertion.
DEADLINE_SECONDS = 180.0


@pytest.fixture
def person(stack: LocalStack, db: psycopg.Connection) -> Iterator[User]:
    user = make_user(stack, "writer")
    yield user
    db.execute("delete from auth.users where id = %s", (user.id,))


def statuses(db: psycopg.Connection, ids: list[str]) -> dict[str, str]:
    rows = db.execute(
        "select id::text, embedding_status from public.documents where id = any(%s::uuid[])",
        (ids,),
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def wait_settled(db: psycopg.Connection, ids: list[str], *, until: str = "ready") -> None:
    """Poll until every document left `pending`; then all must be `until`."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        now = statuses(db, ids)
        if len(now) == len(ids) and "pending" not in now.values():
            break
        time.sleep(0.2)
    now = statuses(db, ids)
    assert now == dict.fromkeys(ids, until), now


def passages(db: psycopg.Connection, document: str) -> list[tuple[int, str, str]]:
    """(chunk_index, content, embedding as text) of a document, in order."""
    rows = db.execute(
        "select chunk_index, content, embedding::text from public.document_chunks "
        "where document_id = %s order by chunk_index",
        (document,),
    ).fetchall()
    return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
