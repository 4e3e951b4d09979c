"""Scope graphs: a tenant too big to scan and too small to walk the model's graph gets its own.

One model of this module only: a big owner (most of the rows), a mid owner above the switch
point (all their rows in their workspace W), a member of W who also owns a few rows of their
own, and a stranger. Nothing is timed; plans are read with auto_explain as the caller runs them.
"""

import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import psycopg
import pytest

from local_stack.stack import LocalStack, User
from tests.database.test_filtered_hnsw import (
    as_caller,
    exact_top_k,
    nested_plans,
    plans_as,
    search,
)
from tests.support import (
    EmbeddingLike,
    copy_chunks,
    insert_document,
    make_user,
    register_model,
    vector_literal,
    workspace_with_viewer,
)

BIG = 16_000
MID = 4_000  # above the switch point: sqrt(300 x ~21.5k) = ~2,540
SMALL = 1_500  # below it
OWN = 40  # the member's own rows
K = 10
SEARCH = (
    "select id from public.match_documents(%s::extensions.vector, %s, filter_embedding_model => %s)"
)
HYBRID = (
    "select id from public.hybrid_search('synthetic passage', %s::extensions.vector, %s, "
    "filter_embedding_model => %s)"
)
# The indexes a plan reads, and whether it scans the table itself.
READS = re.compile(
    r"(?:Index Scan|Index Only Scan|Bitmap Index Scan) (?:Backward )?(?:using|on) (\S+)"
    r"|Seq Scan on (\S+)"
)


@dataclass
class Tenants:
    big: User
    mid: User
    small: User
    member: User
    stranger: User
    model: str
    workspace: str
    mid_doc: str
    member_doc: str
    member_vectors: np.ndarray
    queries: list[str]


@pytest.fixture(scope="module")
def tenants(stack: LocalStack) -> Iterator[Tenants]:
    big, mid, small, member, stranger = (
        make_user(stack, n) for n in ("big", "mid", "small", "member", "stranger")
    )
    model = f"scope-test-{uuid.uuid4().hex[:8]}"
    gen = EmbeddingLike(np.random.default_rng(20261203))
    vectors = gen.sample(BIG + MID + OWN + SMALL)
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        workspace = workspace_with_viewer(db, "scope", mid, member)
        register_model(db, model)
        big_doc = insert_document(db, big, None, "big", model=model)
        mid_doc = insert_document(db, mid, workspace, "mid", model=model)
        member_doc = insert_document(db, member, None, "own", model=model)
        small_doc = insert_document(db, small, None, "small", model=model)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(copy_chunks, stack.db_url, big_doc, vectors[:BIG]),
                pool.submit(copy_chunks, stack.db_url, mid_doc, vectors[BIG : BIG + MID]),
                pool.submit(
                    copy_chunks, stack.db_url, member_doc, vectors[BIG + MID : BIG + MID + OWN]
                ),
                pool.submit(copy_chunks, stack.db_url, small_doc, vectors[BIG + MID + OWN :]),
            ]
            for job in jobs:
                job.result()
        db.execute("analyze public.document_chunks")
        db.execute("set maintenance_work_mem = '256MB'")
        db.execute("select private.add_embedding_model(%s)", (model,))
        print(
            f"{BIG + MID + OWN} chunks and the model's graph in {time.monotonic() - started:.1f}s"
        )
        try:
            yield Tenants(
                big=big,
                mid=mid,
                small=small,
                member=member,
                stranger=stranger,
                model=model,
                workspace=workspace,
                mid_doc=mid_doc,
                member_doc=member_doc,
                member_vectors=vectors[BIG + MID : BIG + MID + OWN],
                queries=[vector_literal(v) for v in gen.sample(5)],
            )
        finally:
            for owner, ws in ((mid.id, None), (small.id, None), (None, workspace)):
                db.execute(
                    "select private.drop_scope_graph(%s, owner_id => %s, workspace_id => %s)",
                    (model, owner, ws),
                )
            db.execute(
                "delete from auth.users where id = any(%s::uuid[])",
                ([u.id for u in (big, mid, small, member, stranger)],),
            )
            db.execute("delete from public.workspaces where id = %s", (workspace,))
            row = db.execute(
                "delete from private.embedding_models where model = %s returning index_name",
                (model,),
            ).fetchone()
            if row is not None and row[0] is not None:
                db.execute(f'drop index if exists public."{row[0]}"')


def scope_graph(db: psycopg.Connection, t: Tenants, owner: str | None, ws: str | None) -> str:
    row = db.execute(
        "select private.add_scope_graph(%s, owner_id => %s, workspace_id => %s)",
        (t.model, owner, ws),
    ).fetchone()
    assert row is not None
    return str(row[0])


def recall(stack: LocalStack, user: User, t: Tenants) -> float:
    hits = 0
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for query in t.queries:
            rows = search(stack, user, query, match_count=K, filter_embedding_model=t.model)
            ids = [r["id"] for r in rows]
            assert len(ids) == len(set(ids)) == K
            hits += len(set(ids) & set(exact_top_k(db, user, query, K, t.model)))
    return hits / (K * len(t.queries))


@pytest.mark.slow
def test_a_mid_tenant_walks_their_own_graph(stack: LocalStack, tenants: Tenants) -> None:
    t = tenants
    params = (t.queries[0], K, t.model)
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        before = nested_plans(stack, t.mid, SEARCH, params)
        assert "document_chunks_hnsw_s" not in before  # no graph of theirs yet: the model's
        own = scope_graph(db, t, t.mid.id, None)
    plans = nested_plans(stack, t.mid, SEARCH, params)
    assert own in plans
    assert "Seq Scan on document_chunks" not in plans
    assert recall(stack, t.mid, t) >= 0.9
    # Only their rows: their graph holds nothing else, and RLS still checks each.
    rows = search(stack, t.mid, t.queries[1], match_count=50, filter_embedding_model=t.model)
    assert {r["document_id"] for r in rows} == {t.mid_doc}


@pytest.mark.slow
def test_a_member_walks_the_workspace_graph_and_scans_their_own_rows(
    stack: LocalStack, tenants: Tenants
) -> None:
    """The workspace has a graph, the member's own 40 rows do not: both are searched, and a
    row near the query among their own comes first."""
    t = tenants
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        graph = scope_graph(db, t, None, t.workspace)
    own_vector = vector_literal(t.member_vectors[7])
    plans = nested_plans(stack, t.member, SEARCH, (own_vector, K, t.model))
    assert graph in plans
    assert "document_chunks_owner_model_idx" in plans
    rows = search(stack, t.member, own_vector, match_count=K, filter_embedding_model=t.model)
    assert rows[0]["document_id"] == t.member_doc
    assert {r["document_id"] for r in rows} <= {t.member_doc, t.mid_doc}
    assert recall(stack, t.member, t) >= 0.9


@pytest.mark.slow
def test_a_row_in_two_graphs_comes_back_once(stack: LocalStack, tenants: Tenants) -> None:
    """The mid owner's rows are in their own graph and in their workspace's."""
    t = tenants
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        own = scope_graph(db, t, t.mid.id, None)
        graph = scope_graph(db, t, None, t.workspace)
    plans = nested_plans(stack, t.mid, SEARCH, (t.queries[2], K, t.model))
    assert own in plans and graph in plans
    rows = search(stack, t.mid, t.queries[2], match_count=100, filter_embedding_model=t.model)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 100


@pytest.mark.slow
def test_others_keep_the_models_graph(stack: LocalStack, tenants: Tenants) -> None:
    """The big owner has no scope graph; the stranger sees nothing; neither meets W's rows."""
    t = tenants
    plans = nested_plans(stack, t.big, SEARCH, (t.queries[0], K, t.model))
    assert "document_chunks_hnsw_s" not in plans
    assert "Index Scan using document_chunks_hnsw_" in plans
    rows = search(stack, t.big, t.queries[0], match_count=50, filter_embedding_model=t.model)
    assert t.mid_doc not in {r["document_id"] for r in rows}
    assert search(stack, t.stranger, t.queries[0], match_count=K) == []
    with psycopg.connect(stack.db_url, autocommit=True) as db, db.transaction():
        as_caller(db, t.stranger)
        row = db.execute(
            "select plan, statement from private.search_plan(%s, null, 'true')", (t.model,)
        ).fetchone()
    assert row == ("exact", None)


@pytest.mark.slow
def test_only_the_database_owner_manages_scope_graphs(stack: LocalStack, tenants: Tenants) -> None:
    t = tenants
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for role in ("authenticated", "service_role", "anon"):
            for statement in (
                "select private.add_scope_graph(%s, owner_id => %s)",
                "select private.drop_scope_graph(%s, owner_id => %s)",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                    db.execute(f"set local role {role}")
                    db.execute(statement, (t.model, t.big.id))
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                db.execute(f"set local role {role}")
                db.execute("select * from private.scope_graphs")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="exactly one"):
            db.execute("select private.add_scope_graph(%s)", (t.model,))
        # What a scheduled job would build: the small owner (half the switch point or more);
        # not the big one (most of the model: its graph serves them), nor those with a graph.
        needing = {
            row[0]
            for row in db.execute(
                "select owner_id from private.scopes_needing_a_graph() where model = %s",
                (t.model,),
            ).fetchall()
        }
        assert uuid.UUID(t.small.id) in needing
        assert uuid.UUID(t.big.id) not in needing
        assert uuid.UUID(t.mid.id) not in needing


@pytest.mark.slow
def test_a_tenant_below_the_switch_point_walks_their_graph_too(
    stack: LocalStack, tenants: Tenants
) -> None:
    """1,500 rows: an exact scan without a graph, their graph once they have one."""
    t = tenants
    params = (t.queries[3], K, t.model)
    before = nested_plans(stack, t.small, SEARCH, params)
    assert "document_chunks_hnsw_" not in before
    assert "document_chunks_owner_model_idx" in before
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        own = scope_graph(db, t, t.small.id, None)
    assert own in nested_plans(stack, t.small, SEARCH, params)
    assert recall(stack, t.small, t) >= 0.9


def _reads(plans: list[str]) -> list[tuple[str, str]]:
    return sorted(m for p in plans if "agent_grants" not in p for m in READS.findall(p))


@pytest.mark.slow
@pytest.mark.parametrize("statement", [SEARCH, HYBRID], ids=["match_documents", "hybrid_search"])
def test_an_agent_searches_as_its_user_with_its_grant_read_once_per_statement(
    stack: LocalStack, tenants: Tenants, statement: str
) -> None:
    """An agent its user let read (a client_id, "openid email") runs the searches its user runs:
    the same rows, through the same indexes, whatever the tenant's size. Its grant is read by
    private.token_allows, whose statement (the only one reading agent_grants) runs a handful of
    times per search (once per statement RLS applies to, an InitPlan), never once per row."""
    t = tenants
    client = str(uuid.uuid4())
    for user in (t.big, t.mid, t.small, t.member):
        stack.grant_agent(user, client, "read")
        params = (t.queries[4], K, t.model)
        person = plans_as(stack, user, statement, params)
        agent = plans_as(stack, user, statement, params, client_id=client)
        assert _reads(agent) == _reads(person), user.email
        checks = [p for p in agent if "public.agent_grants" in p]
        assert 1 <= len(checks) <= 12, (user.email, len(checks))
        with psycopg.connect(stack.db_url, autocommit=True) as db:
            found: dict[str | None, list[int]] = {}
            for caller in (None, client):
                with db.transaction():
                    as_caller(db, user, caller)
                    found[caller] = [r[0] for r in db.execute(statement, params).fetchall()]
        assert found[client] == found[None] and len(found[None]) == K, user.email
