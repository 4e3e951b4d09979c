"""Isolation through the replica door: the same attacks, answered by a read replica.

A world of its own on the replica stack (tests/conftest.py `replica_stack`, one streaming
replica), replayed to the replica before the attacks; then table reads, count probes and search
calls by GET, which the gateway sends to the replica. RLS on a hot standby must answer exactly as
on the primary: no hidden secret, id or count in any answer. Every successful answer must say it
came from the replica (X-Kb-Served-By, from pg_is_in_recovery() inside the request), or the door
was not the one under test.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.main import create_app
from knowledge_core.rest_query import query_value
from local_stack import replicas
from local_stack.stack import LocalStack
from tests.api.conftest import edge_settings
from tests.hostile.conftest import BACKGROUND_THRESHOLD
from tests.hostile.strategies import Request, rest_read
from tests.hostile.support import examples, floor, record, send
from tests.hostile.test_isolation import judge_rest
from tests.hostile.world import Tally, World, build_world
from tests.support import rest_client


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    record("replica_door", counts.as_report())


@pytest.fixture(scope="module")
def world(replica_stack: LocalStack, stack: LocalStack) -> Iterator[World]:
    settings = edge_settings(
        replica_stack,
        embedder_url=stack.embedder_url,
        log_level="ERROR",
        background_threshold_chars=BACKGROUND_THRESHOLD,
    )
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as edge,
        build_world(replica_stack, edge) as made,
    ):
        for replica in replica_stack.replicas():
            replicas.wait_for_replay(replica, replica_stack.secrets)
        yield made


@pytest.fixture(scope="module")
def rest(replica_stack: LocalStack) -> Iterator[httpx.Client]:
    with rest_client(replica_stack, None) as client:
        yield client


def as_get(request: Request) -> Request:
    """A search call moved from a JSON body into the query string, as a replica takes it. A
    metadata filter stays behind: PostgREST 12 would hand it to the function as a JSON string."""
    if request.method != "POST":
        return request
    arguments: dict[str, Any] = {
        name: value
        for name, value in request.body.items()
        if value is not None and not isinstance(value, dict)
    }
    params = [*request.params, *((k, query_value(v)) for k, v in arguments.items())]
    return Request("GET", request.path, params, headers=request.headers)


@given(data=st.data())
@examples(200)
def test_replica_reads_never_show_hidden_rows(
    world: World, rest: httpx.Client, tally: Tally, data: st.DataObject
) -> None:
    actor, drawn = data.draw(rest_read(world))
    request = as_get(drawn)
    response = send(rest, actor, request)
    found = judge_rest(world, actor, request, response)
    if 200 <= response.status_code < 300:
        assert response.headers["x-kb-served-by"] == "replica", request.describe()
    kind = "count" if request.count_probe else request.path.split("/")[-1]
    tally.count("replica", f"read {kind}", response.status_code, found)
    assert not found, found


def test_replica_door_attempts(tally: Tally) -> None:
    assert tally.door_attempts("replica") >= floor(200)
    assert not tally.leaks.get("replica")


def test_replica_door_serves_what_the_actor_may_read(world: World, rest: httpx.Client) -> None:
    """The control: the replica does answer an actor with their own rows and searches."""
    ana = next(a for a in world.actors if a.name == "ana")
    mine = next(d for d in world.docs if d.label == "A-private")
    direct = send(rest, ana, Request("GET", "/documents", [("id", f"eq.{mine.id}")]))
    assert direct.headers["x-kb-served-by"] == "replica"
    assert direct.status_code == 200 and mine.secret in direct.text
    search = as_get(
        Request(
            "POST",
            "/rpc/match_documents",
            body={"query_embedding": list(mine.first_chunk_vector), "match_count": 5},
        )
    )
    found = send(rest, ana, search)
    assert found.headers["x-kb-served-by"] == "replica"
    assert found.status_code == 200 and mine.secret in found.text
