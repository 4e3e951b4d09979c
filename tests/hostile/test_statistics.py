"""Planner statistics never reach a caller.

Under RLS, Postgres still estimates a filter's rows from pg_statistic, which is gathered over
every tenant's rows: `=`, `<` and `<=` on uuid, text and timestamptz are leakproof, so the
estimate sees straight through the policy. PostgREST answers `Prefer: count=planned` with that
estimate, and `count=estimated` with it past max-rows. A stranger filtering on another tenant's
owner id, workspace, model or a range of titles would learn their volume, bisect their ids out
of `owner_id=lte.<uuid>`, find which models exist and how titles are distributed.

The rule tested here: every total an API role is told is the exact count of the rows it may
see. Hypothesis draws the actor, the table, filters aimed at other tenants (their ids, models,
titles, bisection ranges) and every spelling of the count preference, by GET and HEAD.
"""

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from local_stack.stack import LocalStack
from tests.hostile.strategies import Request, filter_atom
from tests.hostile.support import examples, floor, record, send
from tests.hostile.world import Actor, Tally, World, build_world

TABLES = ["documents", "document_chunks", "workspaces", "workspace_members", "vector_store"]
# Every spelling PostgREST 12 reads as a planner count (it lowercases nothing itself, but a
# gateway or a later version might), alone or among other preferences, in one header or two.
PLANNER_COUNTS = [
    "count=planned",
    "count=estimated",
    "COUNT=PLANNED",
    "Count=Estimated",
    "count = planned",
    "return=representation, count=planned",
    "count=estimated,handling=lenient",
    "handling=strict; count=planned",
    "count=planned,count=exact",
]


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    record("statistics", counts.as_report())


@pytest.fixture(scope="module")
def world(stack: LocalStack, edge: TestClient) -> Iterator[World]:
    with build_world(stack, edge) as made:
        # Statistics as autovacuum would gather them after enough writes: every tenant's rows.
        with psycopg.connect(stack.db_url, autocommit=True) as db:
            db.execute("analyze " + ", ".join(f"public.{table}" for table in TABLES))
        yield made


@st.composite
def bisection(draw: st.DrawFn, world: World, actor: Actor, table: str) -> tuple[str, str]:
    """Range filters on columns whose statistics cover every tenant."""
    point = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    others = [u for u in world.user_ids if u != actor.user.id] or [point]
    victim = draw(st.sampled_from(others))
    by_table = {
        "documents": ["owner_id", "id", "workspace_id", "created_by_client"],
        "document_chunks": ["owner_id", "document_id", "workspace_id"],
        "workspaces": ["id", "created_by"],
        "workspace_members": ["user_id", "workspace_id"],
        "vector_store": ["id", "workspace_id"],
    }
    column = draw(st.sampled_from(by_table[table]))
    operator = draw(st.sampled_from(["lte", "lt", "gte", "gt", "eq", "neq"]))
    value = draw(st.sampled_from([point, victim]))
    text_filters = {
        "documents": [
            ("title", f"lt.{draw(st.sampled_from('BMTZ'))}"),
            ("embedding_model", "eq.all-MiniLM-L6-v2"),
        ],
        "document_chunks": [("embedding_model", "eq.all-MiniLM-L6-v2"), ("chunk_index", "gte.0")],
        "workspaces": [("name", "lt.M")],
        "workspace_members": [("role", "eq.owner")],
        "vector_store": [("embedding_model", "eq.all-MiniLM-L6-v2")],
    }
    return draw(st.sampled_from([(column, f"{operator}.{value}"), *text_filters[table]]))


@st.composite
def planner_probe(draw: st.DrawFn, world: World) -> tuple[Actor, Request]:
    actor = draw(st.sampled_from(world.actors))
    table = draw(st.sampled_from(TABLES))
    atoms = [bisection(world, actor, table)]
    if table in ("documents", "document_chunks", "workspaces"):
        atoms.append(filter_atom(world, actor, table))
    params = draw(st.lists(st.one_of(*atoms), min_size=1, max_size=3))
    params.append(("select", "*" if table != "document_chunks" else "id"))
    if draw(st.booleans()):
        params.append(("limit", str(draw(st.integers(0, 5)))))
    preference = draw(st.sampled_from(PLANNER_COUNTS))
    method = draw(st.sampled_from(["GET", "HEAD"]))
    return actor, Request(method, f"/{table}", params, headers={"Prefer": preference})


def exact_total(rest: httpx.Client, actor: Actor, request: Request) -> int:
    """What the actor may know: the exact count of the rows it sees with the same filters."""
    params = [(k, v) for k, v in request.params if k not in ("limit", "select")]
    exact = Request("HEAD", request.path, params, headers={"Prefer": "count=exact"})
    response = send(rest, actor, exact)
    assert response.status_code in (200, 206), response.text
    return int(response.headers["content-range"].rsplit("/", 1)[-1])


@given(data=st.data())
@examples(160)
def test_counts_are_never_the_planners(
    world: World, rest: httpx.Client, tally: Tally, data: st.DataObject
) -> None:
    actor, request = data.draw(planner_probe(world))
    response = send(rest, actor, request)
    found: list[str] = []
    assert response.status_code < 500, response.text
    total = response.headers.get("content-range", "").rsplit("/", 1)[-1]
    if response.is_success and total.isdigit():
        allowed = exact_total(rest, actor, request)
        if int(total) != allowed:
            found.append(
                f"{actor.name}: {request.describe()} {request.headers}: told {total}, "
                f"sees {allowed}"
            )
    elif not response.is_success and request.method == "GET":
        assert response.json()["code"] == "count_not_allowed", response.text
    tally.count("postgrest", "planner count", response.status_code, found)
    assert not found, found


def test_counts_were_attempted(tally: Tally) -> None:
    assert tally.door_attempts("postgrest") >= floor(160)
    assert not tally.leaks.get("postgrest")


def test_exact_counts_still_answer(world: World, rest: httpx.Client) -> None:
    """The control: a caller still counts their own rows exactly."""
    ana = next(a for a in world.actors if a.name == "ana")
    mine = sum(1 for doc in world.docs if world.can_read(ana, doc))
    response = send(rest, ana, Request("HEAD", "/documents", headers={"Prefer": "count=exact"}))
    assert response.headers["content-range"].endswith(f"/{mine}")
