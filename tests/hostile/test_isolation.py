"""Isolation under attack: every read, search, update and delete path, as every wrong actor.

Hypothesis draws the actor, the target (other people's ids, markers, owners, workspaces) and
the shape of the attack (PostgREST filter trees, metadata containment, resource embedding,
count probes, search vectors copied from hidden chunks, upserts over other people's rows),
then sends it through each door: raw PostgREST, supabase-py, the API and the MCP server. A
leak is any hidden secret, id or count in an answer, or any change the actor had no right to
make; each test asserts none, and that enough attempts were made for that to mean something.

Examples are derandomized (the same attacks every run, as CI needs) and bounded; set
HOSTILE_EXAMPLES to scale every test's example count (default 1.0).
"""

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import httpx2
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from postgrest.exceptions import APIError

from local_stack.stack import LocalStack
from tests.api.conftest import bearer
from tests.hostile.conftest import BACKGROUND_THRESHOLD
from tests.hostile.strategies import (
    PWNED,
    SELECTS,
    Request,
    metadata_probe,
    rest_read,
    rest_write,
    search_arguments,
    text,
    write_kind,
)
from tests.hostile.support import (
    McpDoor,
    examples,
    floor,
    record,
    recording_supabase,
    run_mcp,
    send,
)
from tests.hostile.world import (
    Actor,
    Tally,
    World,
    build_world,
    forget_extras,
    illegal_changes,
    leaks_in,
    snapshot,
)


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    record("isolation", counts.as_report())


@pytest.fixture(scope="module")
def world(stack: LocalStack, edge: TestClient) -> Iterator[World]:
    with build_world(stack, edge) as made:
        yield made


@pytest.fixture(scope="module")
def db(stack: LocalStack) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


def judge_rest(world: World, actor: Actor, request: Request, response: httpx.Response) -> list[str]:
    """Leaks in a PostgREST answer: body, Content-Range, and for count probes the count itself."""
    ok = 200 <= response.status_code < 300
    content_range = response.headers.get("content-range", "")
    data = None
    if ok and "json" in response.headers.get("content-type", "") and response.content:
        data = response.json()
    found = leaks_in(world, actor, text=response.text + "\n" + content_range, ok=ok, data=data)
    total = content_range.rsplit("/", 1)[-1]
    if request.count_probe and ok and total.isdigit() and int(total) > 0:
        found.append(f"counted {total} hidden rows")
    return [f"{actor.name}: {request.describe()}: {leak}" for leak in found]


def test_doors_serve_what_the_actor_may_read(
    world: World, rest: httpx.Client, stack: LocalStack, edge: TestClient, mcp: McpDoor
) -> None:
    """The control: each door does answer the actor with their own data. A door that refused
    everything would pass every isolation test below and prove nothing."""
    ana = next(a for a in world.actors if a.name == "ana")
    mine = next(d for d in world.docs if d.label == "A-private")
    direct = send(rest, ana, Request("GET", "/documents", [("id", f"eq.{mine.id}")]))
    assert direct.status_code == 200 and mine.secret in direct.text
    client, _ = recording_supabase(stack, ana.token)
    rows = client.table("documents").select("title").eq("id", mine.id).execute().data
    assert isinstance(rows, list) and mine.secret in json.dumps(rows)
    wanted: dict[str, Any] = {"query": mine.marker, "mode": "hybrid"}
    found = edge.post("/v1/search", headers=bearer(ana.token), json={**wanted, "k": 10})
    assert found.status_code == 200 and mine.secret in found.text
    _, ok, text, _ = run_mcp(mcp, ana, "search_knowledge_base", {**wanted, "limit": 10})
    assert ok and mine.secret in text, text


def test_each_agent_reads_exactly_what_its_users_grant_opens(
    world: World, rest: httpx.Client, edge: TestClient
) -> None:
    """Agents' tokens (Supabase Auth's shape: client_id, "openid email") through PostgREST and
    the API: a read or write grant opens its user's documents; no grant, a revoked grant,
    another user's grant of the same client, or a grant the agent tried to give itself, none.
    And an agent sees no grant but its own."""
    agents = [a for a in world.actors if a.client_id is not None]
    assert {a.access for a in agents} == {"read", "write", None}
    for actor in agents:
        readable = {d.id for d in world.docs if world.can_read(actor, d)}
        assert bool(readable) == (actor.access is not None), actor.name
        direct = send(rest, actor, Request("GET", "/documents", [("select", "id")]))
        assert direct.status_code == 200, direct.text
        assert {row["id"] for row in direct.json()} == readable, actor.name
        listed = edge.get("/v1/documents", headers=bearer(actor.token), params={"limit": 100})
        assert listed.status_code == 200, listed.text
        assert {d["id"] for d in listed.json()["items"]} == readable, actor.name
        grants = send(rest, actor, Request("GET", "/agent_grants", [("select", "client_id")]))
        assert grants.status_code == 200, grants.text
        expected = [{"client_id": actor.client_id}] if actor.access is not None else []
        assert grants.json() == expected, actor.name


def test_the_detector_fires_when_rls_is_bypassed(
    world: World, rest: httpx.Client, db: psycopg.Connection, stack: LocalStack
) -> None:
    """The service-role key bypasses RLS (admin tooling only, never a user's request): sent
    with it, a read, a count and a write must each be reported as a leak for an outsider. A
    detector that never fires would make every zero in this module meaningless."""
    outsider = next(a for a in world.actors if a.name == "out")
    admin = Actor("service-role", "out", outsider.user, stack.service_role_key)
    hidden = ",".join(d.id for d in world.unreadable(outsider))
    read = Request("GET", "/documents", [("select", "id,title"), ("id", f"in.({hidden})")])
    assert judge_rest(world, outsider, read, send(rest, admin, read))
    count = Request(
        "HEAD",
        "/documents",
        [("id", f"in.({hidden})")],
        headers={"Prefer": "count=exact"},
        count_probe=True,
    )
    assert judge_rest(world, outsider, count, send(rest, admin, count))
    victim = next(d for d in world.docs if d.label == "E-private")
    before = snapshot(db, world)
    # Writes the value it already has: only updated_at moves, the world stays as it was.
    touch = Request("PATCH", "/documents", [("id", f"eq.{victim.id}")], {"category": "cat-eli"})
    assert send(rest, admin, touch).status_code == 204
    assert illegal_changes(world, outsider, before, snapshot(db, world))


@given(data=st.data())
@examples(300)
def test_postgrest_reads_never_show_hidden_rows(
    world: World, rest: httpx.Client, tally: Tally, data: st.DataObject
) -> None:
    actor, request = data.draw(rest_read(world))
    response = send(rest, actor, request)
    found = judge_rest(world, actor, request, response)
    kind = "count" if request.count_probe else request.path.split("/")[1]
    tally.count("postgrest", f"read {kind}", response.status_code, found)
    assert not found, found


def test_postgrest_read_attempts(tally: Tally) -> None:
    assert tally.door_attempts("postgrest") >= floor(300)
    assert not tally.leaks.get("postgrest")


@given(data=st.data())
@examples(220)
def test_postgrest_writes_never_land(
    world: World,
    rest: httpx.Client,
    db: psycopg.Connection,
    tally: Tally,
    data: st.DataObject,
) -> None:
    actor, request = data.draw(rest_write(world))
    before = snapshot(db, world)
    response = send(rest, actor, request)
    after = snapshot(db, world)
    found = judge_rest(world, actor, request, response)
    found += [
        f"{actor.name}: {request.describe()}: {p}"
        for p in illegal_changes(world, actor, before, after)
    ]
    forget_extras(db, world, before, after)
    tally.count("postgrest", f"write {write_kind(request)}", response.status_code, found)
    assert not found, found


# -- supabase-py --------------------------------------------------------------------------------
Query = Callable[[Any], Any]


@st.composite
def supabase_read(draw: st.DrawFn, world: World) -> tuple[Actor, str, Query]:
    """A supabase-py query built with its own filter methods, aimed at hidden rows."""
    actor = draw(st.sampled_from(world.actors))
    hidden = world.unreadable(actor) or world.docs
    doc = draw(st.sampled_from(hidden))
    table = draw(st.sampled_from(["documents", "document_chunks"]))
    id_col = "id" if table == "documents" else "document_id"
    text_col = "title" if table == "documents" else "content"
    victim = world.people[doc.owner].id
    ws = draw(st.sampled_from(list(world.workspaces.values())))
    probe = draw(metadata_probe(world))
    steps: list[tuple[str, Query]] = [
        (f"eq {id_col}", lambda q: q.eq(id_col, doc.id)),
        (f"in {id_col}", lambda q: q.in_(id_col, [d.id for d in hidden])),
        ("or owner/workspace", lambda q: q.or_(f"owner_id.eq.{victim},workspace_id.eq.{ws}")),
        ("not eq owner", lambda q: q.not_.eq("owner_id", actor.user.id)),
        ("neq owner", lambda q: q.neq("owner_id", actor.user.id)),
        ("contains metadata", lambda q: q.contains("metadata", probe)),
        ("contained_by metadata", lambda q: q.contained_by("metadata", probe)),
        ("like marker", lambda q: q.like(text_col, f"%{doc.marker}%")),
        ("text_search marker", lambda q: q.text_search(text_col, doc.marker)),
        ("filter metadata->>marker", lambda q: q.filter("metadata->>marker", "eq", doc.marker)),
        ("is workspace null", lambda q: q.is_("workspace_id", "null")),
    ]
    chosen = draw(st.lists(st.sampled_from(steps), min_size=1, max_size=3))
    select = draw(st.sampled_from(SELECTS[table]))
    counted = draw(st.booleans())
    name = f"{table} select={select} " + ", ".join(n for n, _ in chosen)

    def run(client: Any) -> Any:
        query = client.table(table).select(select, count="exact" if counted else None)
        for _, step in chosen:
            query = step(query)
        response = query.execute()
        return {"data": response.data, "count": response.count}

    if draw(st.integers(0, 3)) == 0:
        _, arguments = draw(search_arguments(world, actor))

        def search(client: Any) -> Any:
            response = client.rpc("match_documents", arguments).execute()
            return {"data": response.data, "count": response.count}

        return actor, f"rpc match_documents {sorted(arguments)}", search
    return actor, name, run


def judge_supabase(
    world: World, actor: Actor, stack: LocalStack, name: str, query: Query
) -> tuple[int | str, list[str]]:
    """Run a supabase-py query as the actor: (HTTP status, leaks in its data or its APIError)."""
    client, statuses = recording_supabase(stack, actor.token)
    try:
        result = query(client)
    except APIError as error:
        text = json.dumps(error._raw_error, default=str)
        found = leaks_in(world, actor, text=text, ok=False)
        return (statuses[-1] if statuses else "error"), [
            f"{actor.name}: {name}: {f}" for f in found
        ]
    found = leaks_in(world, actor, text=json.dumps(result, default=str), ok=True, data=result)
    return (statuses[-1] if statuses else "ok"), [f"{actor.name}: {name}: {f}" for f in found]


@given(data=st.data())
@examples(120)
def test_supabase_py_reads_never_show_hidden_rows(
    world: World, stack: LocalStack, tally: Tally, data: st.DataObject
) -> None:
    actor, name, query = data.draw(supabase_read(world))
    status, found = judge_supabase(world, actor, stack, name, query)
    tally.count("supabase-py", "read", status, found)
    assert not found, found


@st.composite
def supabase_write(draw: st.DrawFn, world: World) -> tuple[Actor, str, Query]:
    """supabase-py writes at rows the actor may not change, restricted to those rows."""
    actor = draw(st.sampled_from(world.actors))
    unwritable = world.unwritable(actor)
    targets = draw(st.lists(st.sampled_from(unwritable), min_size=1, max_size=3, unique=True))
    ids = [d.id for d in targets]
    gone = [d.id for d in world.undeletable(actor)]
    target = targets[0]
    foreign_ws = draw(st.sampled_from(world.foreign_workspaces(actor)))
    unowned_ws = draw(st.sampled_from(world.unowned_workspaces(actor)))
    probe = draw(metadata_probe(world))
    body = draw(
        st.sampled_from(
            [{"title": PWNED}, {"metadata": probe}, {"workspace_id": foreign_ws}, {"category": "x"}]
        )
    )
    vector = [1.0] + [0.0] * 383
    writes: list[tuple[str, Query]] = [
        ("update documents", lambda c: c.table("documents").update(body).in_("id", ids)),
        (
            "update documents or",
            lambda c: (
                c.table("documents")
                .update(body)
                .in_("id", ids)
                .or_(f"owner_id.neq.{actor.user.id},metadata.cs.{json.dumps(probe)}")
            ),
        ),
        ("delete documents", lambda c: c.table("documents").delete().in_("id", gone)),
        (
            "update chunks",
            lambda c: c.table("document_chunks").update({"content": PWNED}).in_("document_id", ids),
        ),
        ("delete chunks", lambda c: c.table("document_chunks").delete().in_("document_id", ids)),
        (
            "insert chunk",
            lambda c: c.table("document_chunks").insert(
                {
                    "document_id": target.id,
                    "chunk_index": 4242,
                    "content": PWNED,
                    "embedding": vector,
                }
            ),
        ),
        (
            "upsert document",
            lambda c: c.table("documents").upsert(
                {
                    "id": target.id,
                    "title": PWNED,
                    "content_hash": "2" * 64,
                    "embedding_model": "test-model",
                },
                on_conflict="id",
            ),
        ),
        (
            "insert document into foreign workspace",
            lambda c: c.table("documents").insert(
                {
                    "title": PWNED,
                    "content_hash": uuid.uuid4().hex * 2,
                    "embedding_model": "test-model",
                    "workspace_id": foreign_ws,
                }
            ),
        ),
        (
            "rpc ingest_document into foreign workspace",
            lambda c: c.rpc(
                "ingest_document",
                {"title": PWNED, "content": f"{PWNED} {uuid.uuid4()}", "workspace_id": foreign_ws},
            ),
        ),
        # LangChain's door: what SupabaseVectorStore sends (upsert by id, delete by id), and
        # documents' text, which the worker would embed for whoever wrote it.
        (
            "upsert vector_store over someone's document",
            lambda c: c.table("vector_store").upsert(
                [{"id": i, "content": PWNED, "embedding": vector, "metadata": probe} for i in ids]
            ),
        ),
        (
            "upsert vector_store text only",
            lambda c: c.table("vector_store").upsert({"id": target.id, "content": PWNED}),
        ),
        (
            "insert vector_store into foreign workspace",
            lambda c: c.table("vector_store").insert(
                {"content": PWNED, "embedding": vector, "workspace_id": foreign_ws}
            ),
        ),
        (
            "update vector_store",
            lambda c: c.table("vector_store").update({"content": PWNED}).in_("id", ids),
        ),
        ("delete vector_store", lambda c: c.table("vector_store").delete().in_("id", gone)),
        (
            "update documents text",
            lambda c: c.table("documents").update({"content": PWNED}).in_("id", ids),
        ),
        (
            "join workspace as owner",
            lambda c: c.table("workspace_members").insert(
                {"workspace_id": unowned_ws, "user_id": actor.user.id, "role": "owner"}
            ),
        ),
        (
            "promote self",
            lambda c: (
                c.table("workspace_members")
                .update({"role": "owner"})
                .eq("workspace_id", unowned_ws)
                .eq("user_id", actor.user.id)
            ),
        ),
    ]
    name, build = draw(st.sampled_from(writes))

    def run(client: Any) -> Any:
        response = build(client).execute()
        return {"data": response.data, "count": response.count}

    return actor, name, run


@given(data=st.data())
@examples(120)
def test_supabase_py_writes_never_land(
    world: World, stack: LocalStack, db: psycopg.Connection, tally: Tally, data: st.DataObject
) -> None:
    actor, name, query = data.draw(supabase_write(world))
    before = snapshot(db, world)
    status, found = judge_supabase(world, actor, stack, name, query)
    after = snapshot(db, world)
    found += [f"{actor.name}: {name}: {p}" for p in illegal_changes(world, actor, before, after)]
    forget_extras(db, world, before, after)
    tally.count("supabase-py", f"write {name}", status, found)
    assert not found, found


def test_supabase_py_attempts(tally: Tally) -> None:
    assert tally.door_attempts("supabase-py") >= floor(120) + floor(120)
    assert not tally.leaks.get("supabase-py")


# -- the API ------------------------------------------------------------------------------------
@st.composite
def api_call(
    draw: st.DrawFn, world: World, *, writes: bool
) -> tuple[Actor, str, str, dict[str, Any]]:
    """(actor, method, path, request kwargs) for the in-process API."""
    actor = draw(st.sampled_from(world.actors))
    hidden = world.unreadable(actor) or world.docs
    doc = draw(st.sampled_from(hidden))
    ws = draw(st.sampled_from([None, *world.workspaces.values()]))
    probe = draw(metadata_probe(world))
    if not writes:
        kind = draw(st.sampled_from(["search", "search", "list", "get", "status", "members"]))
        if kind == "search":
            query = draw(
                st.one_of(
                    st.sampled_from([doc.marker, doc.probe_text, f"{doc.owner} notes"]),
                    text.filter(lambda t: bool(t.strip())),
                )
            )
            body: dict[str, Any] = {
                "query": query,
                "k": draw(st.integers(1, 50)),
                "mode": draw(st.sampled_from(["semantic", "hybrid", "keyword"])),
                "group_by": draw(st.sampled_from(["passage", "document"])),
                "metadata": probe,
            }
            if ws:
                body["workspace_id"] = ws
            if draw(st.booleans()):
                body["category"] = draw(st.sampled_from(["shared", f"cat-{doc.owner}"]))
            if body["mode"] != "keyword" and draw(st.booleans()):
                body["threshold"] = draw(st.sampled_from([-1.0, 0.0, 0.3]))
            return actor, "POST", "/v1/search", {"json": body}
        if kind == "list":
            params: dict[str, Any] = {"limit": draw(st.integers(1, 100))}
            if draw(st.booleans()):
                params["metadata"] = json.dumps(probe)
            if ws:
                params["workspace_id"] = ws
            if draw(st.booleans()):
                params["category"] = draw(st.sampled_from(["shared", f"cat-{doc.owner}"]))
            return actor, "GET", "/v1/documents", {"params": params}
        if kind == "get":
            return actor, "GET", f"/v1/documents/{doc.id}", {}
        if kind == "status":
            return actor, "GET", f"/v1/documents/{doc.id}/status", {}
        return actor, "GET", f"/v1/workspaces/{ws or doc.workspace}/members", {}
    target = draw(st.sampled_from(world.unwritable(actor)))
    foreign_ws = draw(st.sampled_from(world.foreign_workspaces(actor)))
    own = [d for d in world.docs if world.can_write(actor, d) and d.owner == actor.person]
    unowned_ws = draw(st.sampled_from(world.unowned_workspaces(actor)))
    kinds = ["patch", "patch", "delete", "add", "add-large", "move-own", "replace-file"]
    kind = draw(st.sampled_from([*kinds, "join", "invite-self", "accept", "evict"]))
    if kind == "patch":
        body = draw(
            st.sampled_from(
                [
                    {"title": PWNED},
                    {"metadata": probe},
                    {"content": PWNED},
                    {"category": "pwned"},
                    {"workspace_id": foreign_ws},
                    {"source": PWNED, "title": PWNED},
                ]
            )
        )
        return actor, "PATCH", f"/v1/documents/{target.id}", {"json": body}
    if kind == "delete":
        victim = draw(st.sampled_from(world.undeletable(actor)))
        return actor, "DELETE", f"/v1/documents/{victim.id}", {}
    if kind == "replace-file":
        upload = {"file": ("pwned.md", f"# {PWNED}\n\n{PWNED}\n".encode())}
        return actor, "PUT", f"/v1/documents/{target.id}/file", {"files": upload}
    if kind == "join":
        role = draw(st.sampled_from(["owner", "editor", "viewer"]))
        path = f"/v1/workspaces/{unowned_ws}/members/{actor.user.id}"
        return actor, "PUT", path, {"json": {"role": role}}
    if kind == "invite-self":  # a seat offered to oneself, in a workspace one does not own
        role = draw(st.sampled_from(["owner", "editor", "viewer"]))
        path = f"/v1/workspaces/{unowned_ws}/invitations/{actor.user.id}"
        return actor, "PUT", path, {"json": {"role": role}}
    if kind == "accept":  # a seat nobody offered
        return actor, "POST", f"/v1/invitations/{unowned_ws}/accept", {}
    if kind == "evict":
        victim_id = world.people[draw(st.sampled_from(list(world.people)))].id
        if victim_id == actor.user.id:  # leaving is anyone's right: evict someone else
            victim_id = next(u.id for u in world.people.values() if u.id != actor.user.id)
        return actor, "DELETE", f"/v1/workspaces/{unowned_ws}/members/{victim_id}", {}
    if kind == "move-own" and own:
        mine = draw(st.sampled_from(own))
        return actor, "PATCH", f"/v1/documents/{mine.id}", {"json": {"workspace_id": foreign_ws}}
    content = f"{PWNED} {uuid.uuid4()}"
    if kind == "add-large":  # over the background threshold: it would be answered at once
        content = " ".join([content] * (BACKGROUND_THRESHOLD // len(content) + 2))
    body = {"title": PWNED, "content": content, "workspace_id": foreign_ws}
    return actor, "POST", "/v1/documents", {"json": body}


def judge_api(world: World, actor: Actor, response: httpx.Response | httpx2.Response) -> list[str]:
    """Leaks in an API answer (the API's errors quote ids the caller sent; those do not count)."""
    ok = 200 <= response.status_code < 300
    data = response.json() if ok and response.content else None
    return leaks_in(world, actor, text=response.text, ok=ok, data=data)


@given(data=st.data())
@examples(150)
def test_api_reads_and_searches_never_show_hidden_documents(
    world: World, edge: TestClient, tally: Tally, data: st.DataObject
) -> None:
    actor, method, path, kwargs = data.draw(api_call(world, writes=False))
    response = edge.request(method, path, headers=bearer(actor.token), **kwargs)
    assert response.status_code < 500, response.text
    found = [
        f"{actor.name}: {method} {path} {kwargs}: {f}" for f in judge_api(world, actor, response)
    ]
    tally.count("api", f"read {method} {path.split('/')[2]}", response.status_code, found)
    assert not found, found


@given(data=st.data())
@examples(80)
def test_api_writes_never_land(
    world: World, edge: TestClient, db: psycopg.Connection, tally: Tally, data: st.DataObject
) -> None:
    actor, method, path, kwargs = data.draw(api_call(world, writes=True))
    before = snapshot(db, world)
    response = edge.request(method, path, headers=bearer(actor.token), **kwargs)
    after = snapshot(db, world)
    assert response.status_code < 500, response.text
    found = judge_api(world, actor, response)
    found += illegal_changes(world, actor, before, after)
    forget_extras(db, world, before, after)
    found = [f"{actor.name}: {method} {path} {kwargs}: {f}" for f in found]
    tally.count("api", f"write {method} {path.split('/')[2]}", response.status_code, found)
    assert not found, found


def test_api_attempts(tally: Tally) -> None:
    assert tally.door_attempts("api") >= floor(150) + floor(80)
    assert not tally.leaks.get("api")


# -- MCP over streamable HTTP ---------------------------------------------------------------
@st.composite
def mcp_call(draw: st.DrawFn, world: World, *, writes: bool) -> tuple[Actor, str, dict[str, Any]]:
    """(actor, tool or 'resource', arguments) aimed at what the actor may not see or change."""
    actor = draw(st.sampled_from(world.actors))
    doc = draw(st.sampled_from(world.unreadable(actor) or world.docs))
    ws = draw(st.sampled_from([None, *world.workspaces.values()]))
    arguments: dict[str, Any]
    if writes:
        if draw(st.booleans()):
            victim = draw(st.sampled_from(world.undeletable(actor)))
            return actor, "delete_document", {"document_id": victim.id}
        foreign_ws = draw(st.sampled_from(world.foreign_workspaces(actor)))
        arguments = {
            "title": PWNED,
            "content": f"{PWNED} {uuid.uuid4()}",
            "workspace_id": foreign_ws,
        }
        return actor, "add_document", arguments
    kind = draw(
        st.sampled_from(
            [
                "search_knowledge_base",
                "search_knowledge_base",
                "get_document",
                "list_documents",
                "resource",
            ]
        )
    )
    if kind == "search_knowledge_base":
        query = draw(
            st.one_of(
                st.sampled_from([doc.marker, doc.probe_text]),
                text.filter(lambda t: bool(t.strip())),
            )
        )
        arguments = {
            "query": query,
            "limit": draw(st.integers(1, 20)),
            "mode": draw(st.sampled_from(["semantic", "hybrid", "keyword"])),
            "group_by": draw(st.sampled_from(["passage", "document"])),
        }
        if draw(st.booleans()):
            arguments["metadata"] = draw(metadata_probe(world))
        if ws:
            arguments["workspace_id"] = ws
        return actor, kind, arguments
    if kind == "list_documents":
        arguments = {"limit": draw(st.integers(1, 100))}
        if ws:
            arguments["workspace_id"] = ws
        if draw(st.booleans()):
            arguments["metadata"] = draw(metadata_probe(world))
        return actor, kind, arguments
    return actor, kind, {"document_id": doc.id}


@given(data=st.data())
@examples(80)
def test_mcp_tools_never_show_hidden_documents(
    world: World, mcp: McpDoor, tally: Tally, data: st.DataObject
) -> None:
    actor, tool, arguments = data.draw(mcp_call(world, writes=False))
    status, ok, text, structured = run_mcp(mcp, actor, tool, arguments)
    found = leaks_in(world, actor, text=text, ok=False)  # secrets, anywhere in the answer
    if ok and structured is not None:
        # The search result repeats the query: an id the attacker typed is not news to them.
        found += leaks_in(world, actor, text="", ok=True, data=structured, skip_keys={"query"})
    elif ok:
        found += leaks_in(world, actor, text=text, ok=True)
    found = sorted(set(f"{actor.name}: {tool} {arguments}: {f}" for f in found))
    tally.count("mcp", f"read {tool}", status, found)
    assert not found, found


@given(data=st.data())
@examples(50)
def test_mcp_writes_never_land(
    world: World,
    mcp: McpDoor,
    db: psycopg.Connection,
    tally: Tally,
    data: st.DataObject,
) -> None:
    actor, tool, arguments = data.draw(mcp_call(world, writes=True))
    before = snapshot(db, world)
    status, _, text, _ = run_mcp(mcp, actor, tool, arguments)
    after = snapshot(db, world)
    found = leaks_in(world, actor, text=text, ok=False)
    found += illegal_changes(world, actor, before, after)
    forget_extras(db, world, before, after)
    found = [f"{actor.name}: {tool} {arguments}: {f}" for f in found]
    tally.count("mcp", f"write {tool}", status, found)
    assert not found, found


def test_mcp_attempts(tally: Tally) -> None:
    assert tally.door_attempts("mcp") >= floor(80) + floor(50)
    assert not tally.leaks.get("mcp")


def test_no_leaks_at_all(tally: Tally) -> None:
    """The whole module's verdict, as the report states it."""
    assert sum(tally.attempts.values()) >= floor(300) + floor(160)
    assert not tally.leaks, tally.leaks
