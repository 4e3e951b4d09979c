"""Read replicas: GET answered by a replica, writes by the primary, and nothing lost between them.

One stack of its own with one streaming replica (tests/conftest.py `replica_stack`), whose
replay is held back a little so that a read right after a write meets a replica that has not
got it yet. Where a request ran is read from the database itself: the pre-request hook answers
`X-Kb-Served-By` from `pg_is_in_recovery()` inside the request's own transaction.
"""

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import jwt
import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from knowledge_core.rest import LastWrites
from knowledge_core.rest_query import query_string
from local_stack import replicas
from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer, edge_settings
from tests.support import (
    insert_chunk,
    insert_document,
    make_user,
    replay_paused,
    rest_client,
    stack_cli,
    unit_vector,
)


def replicas_of(stack: LocalStack) -> replicas.Replica:
    (replica,) = stack.replicas()
    return replica


def _caught_up(stack: LocalStack) -> None:
    replicas.wait_for_replay(replicas_of(stack), stack.secrets)


@pytest.fixture(scope="module")
def person(replica_stack: LocalStack) -> Iterator[User]:
    user = make_user(replica_stack, "replica")
    yield user
    replica_stack.delete_user(user)


@pytest.fixture(scope="module")
def rest(replica_stack: LocalStack, person: User) -> Iterator[httpx.Client]:
    with rest_client(replica_stack, replica_stack.access_token(person)) as client:
        yield client


@pytest.fixture(scope="module")
def edge(replica_stack: LocalStack, stack: LocalStack) -> Iterator[TestClient]:
    """The API in-process against the replica stack, searching by GET; the model is the main
    stack's shared embedder (the replica stack runs no edge of its own)."""
    settings = edge_settings(replica_stack, embedder_url=stack.embedder_url, search_via_get=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _search(rest: httpx.Client, vector: list[float], **headers: str) -> httpx.Response:
    query = query_string({"query_embedding": vector, "match_count": 5})
    return rest.get(f"/rpc/match_documents?{query}", headers=headers)


def test_searches_by_get_are_answered_by_the_replica_and_writes_by_the_primary(
    replica_stack: LocalStack, rest: httpx.Client, person: User
) -> None:
    rng = np.random.default_rng(7)
    vector = unit_vector(rng)
    with psycopg.connect(replica_stack.db_url, autocommit=True) as db:
        doc = insert_document(db, person, None, "replicated")
        chunk = insert_chunk(db, doc, 0, "a replicated passage", vector)
    _caught_up(replica_stack)

    by_get = _search(rest, vector)
    assert by_get.status_code == 200, by_get.text
    assert by_get.headers["x-kb-served-by"] == "replica"
    assert [row["id"] for row in by_get.json()][:1] == [chunk]
    assert "x-kb-write-xid" not in by_get.headers

    by_post = rest.post("/rpc/match_documents", json={"query_embedding": vector, "match_count": 5})
    assert by_post.headers["x-kb-served-by"] == "primary"
    # The same rows, scores included, whichever server and encoding answered.
    assert by_post.json() == by_get.json()

    write = rest.post(
        "/workspaces", json={"name": "a write"}, headers={"Prefer": "return=representation"}
    )
    assert write.status_code == 201, write.text
    assert write.headers["x-kb-served-by"] == "primary"
    assert write.headers["x-kb-write-xid"].isdigit()

    asked_for_primary = _search(rest, vector, **{"X-Kb-Read-From": "primary"})
    assert asked_for_primary.headers["x-kb-served-by"] == "primary"


def test_a_read_after_a_write_waits_for_the_replica_or_goes_to_the_primary(
    replica_stack: LocalStack, rest: httpx.Client
) -> None:
    _caught_up(replica_stack)  # the caller's sign-in is there; their write will not be
    with replay_paused(replica_stack):
        write = rest.post(
            "/workspaces",
            json={"name": "read me back"},
            headers={"Prefer": "return=representation"},
        )
        xid = write.headers["x-kb-write-xid"]
        made = write.json()[0]["id"]
        wanted = {"id": f"eq.{made}"}
        # The replica itself refuses the read rather than answer without the write...
        direct = httpx.get(
            f"http://{replicas_of(replica_stack).rest_address}/workspaces",
            params=wanted,
            headers={"Authorization": rest.headers["Authorization"], "X-Kb-After-Xid": xid},
        )
        assert direct.status_code == 412, direct.text
        assert direct.json()["code"] == "replica_behind"
        # ... and through the gateway the primary answers it instead: the caller sees it.
        early = rest.get("/workspaces", params=wanted, headers={"X-Kb-After-Xid": xid})
        assert early.headers["x-kb-served-by"] == "primary" and len(early.json()) == 1
        # Without the header the same read is answered by the replica, and misses the write.
        stale = rest.get("/workspaces", params=wanted)
        assert stale.headers["x-kb-served-by"] == "replica" and stale.json() == []
    _caught_up(replica_stack)
    later = rest.get("/workspaces", params=wanted, headers={"X-Kb-After-Xid": xid})
    assert later.headers["x-kb-served-by"] == "replica" and len(later.json()) == 1
    bad = rest.get("/workspaces", headers={"X-Kb-After-Xid": "12; drop table x"})
    assert bad.status_code == 400 and "X-Kb-After-Xid" in bad.json()["message"]


PAIRS = 200


def _add_then_search(edge: TestClient, headers: dict[str, str], i: int) -> bool:
    """Add a document with a word of its own, search for that word at once: found?"""
    word = f"ryw{uuid.uuid4().hex[:10]}"
    added = edge.post(
        "/v1/documents",
        headers=headers,
        json={"title": f"pair {i}", "content": f"The {word} note number {i}."},
    )
    assert added.status_code in (200, 201), added.text
    found = edge.post(
        "/v1/search",
        headers=headers,
        json={"query": f"{word} note number {i}", "mode": "hybrid", "k": 5},
    )
    assert found.status_code == 200, found.text
    return added.json()["document_id"] in {hit["document_id"] for hit in found.json()["results"]}


def test_every_add_is_found_by_the_search_right_after_it(
    replica_stack: LocalStack, edge: TestClient, person: User, rest: httpx.Client
) -> None:
    """A few hundred add-then-search pairs through the API (searches by GET), the replica behind
    every one of them (its replay paused): each add waits for the worker's passages (reading
    the status from the primary), each search then finds the document just added, from the
    primary; another user, who wrote nothing, keeps being answered by the replica. Once the
    replica has caught up, the writer's searches go back to it."""
    headers = bearer(replica_stack.access_token(person))
    pool = edge.app.state.knowledge.rest  # type: ignore[attr-defined]
    bystander = make_user(replica_stack, "bystander")
    other = {"Authorization": f"Bearer {replica_stack.access_token(bystander)}"}
    _caught_up(replica_stack)  # both sign-ins are on the replica: only the writes lag
    before = Counter(pool.reads_answered_by)
    missed: list[int] = []
    served: Counter[str] = Counter()
    try:
        with replay_paused(replica_stack):
            for i in range(PAIRS):
                if not _add_then_search(edge, headers, i):
                    missed.append(i)
                if i % 20 == 0:
                    bystanders = _search(rest, [1.0] + [0.0] * 383, **other)
                    served[bystanders.headers["x-kb-served-by"]] += 1
            # Each search was one read, and the primary answered every one.
            assert pool.reads_answered_by - before == Counter({"primary": PAIRS})
        _caught_up(replica_stack)
        assert _add_then_search(edge, headers, PAIRS)
        assert pool.reads_answered_by - before == Counter({"primary": PAIRS, "replica": 1})
    finally:
        replica_stack.delete_user(bystander)
    assert missed == []
    assert served == Counter({"replica": PAIRS // 20})


def test_without_remembering_writes_the_search_misses(
    replica_stack: LocalStack, edge: TestClient, person: User
) -> None:
    """The control: the same pairs with the edge forgetting each write miss every time (the
    replica is behind and answers), so the test above cannot pass for another reason."""
    headers = bearer(replica_stack.access_token(person))
    _caught_up(replica_stack)  # the new session is on the replica: only the writes lag
    pool = edge.app.state.knowledge.rest  # type: ignore[attr-defined]
    kept = pool.last_writes
    pool.last_writes = LastWrites(kept=0)
    try:
        with replay_paused(replica_stack):
            found = [_add_then_search(edge, headers, i) for i in range(5)]
    finally:
        pool.last_writes = kept
    assert found == [False] * 5


def test_a_replica_stopped_and_started_under_load_fails_no_search(
    replica_stack: LocalStack, rest: httpx.Client
) -> None:
    stop = threading.Event()
    served: Counter[str] = Counter()
    failures: list[str] = []
    vector = unit_vector(np.random.default_rng(3))

    def load() -> None:
        with httpx.Client(
            base_url=str(rest.base_url), headers=dict(rest.headers), timeout=30
        ) as client:
            while not stop.is_set():
                try:
                    response = _search(client, vector)
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                else:
                    served[response.headers["x-kb-served-by"]] += 1

    def until(what: str, seen: int) -> None:
        deadline = time.monotonic() + 60
        while served[what] < seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served[what] >= seen, (what, served)

    workers = [threading.Thread(target=load) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        until("replica", 20)
        replica_stack.stop_replica(1)
        until("primary", 20)
        on_replica = served["replica"]
        replica_stack.start_replica(1)
        until("replica", on_replica + 20)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert failures == []


def test_a_signed_out_session_is_refused_on_the_replica(
    replica_stack: LocalStack, person: User
) -> None:
    token = replica_stack.access_token(person)
    with rest_client(replica_stack, token) as client:
        _caught_up(replica_stack)
        assert client.get("/documents?select=id").headers["x-kb-served-by"] == "replica"
        session = jwt.decode(token, options={"verify_signature": False})["session_id"]
        with psycopg.connect(replica_stack.db_url, autocommit=True) as db:
            db.execute("delete from auth.sessions where id = %s", (session,))
        _caught_up(replica_stack)
        refused = client.get("/documents?select=id")
        assert refused.status_code == 401
        assert refused.json()["code"] == "session_revoked"


def test_status_shows_each_replica_and_its_lag(replica_stack: LocalStack) -> None:
    status = stack_cli(replica_stack, "status", "-o", "json")
    assert status.returncode == 0, status.stderr
    (replica,) = json.loads(status.stdout)["replicas"]
    assert replica["name"] == "replica-1" and replica["state"] == "streaming"
    assert replica["postgres"] and replica["postgrest"]
    assert isinstance(replica["replay_lag_bytes"], int)
    assert "replica-1: running, streaming, replay lag" in stack_cli(replica_stack, "status").stdout
    assert "--replicas N" in stack_cli(replica_stack, "start", "--help").stdout
    too_many = stack_cli(replica_stack, "start", "--replicas", "9")
    assert too_many.returncode == 1 and "--replicas must be between 0 and 8" in too_many.stderr
