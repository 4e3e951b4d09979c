"""The search plan follows the caller: exact for small callers, the model's HNSW graph for large.

One table far larger than `hnsw.max_scan_tuples` (20,000): a user owning 0.1% of it, a user
owning the rest, a workspace member, and a second embedding model with vectors identical to the
first's. Nothing here is timed; the plan is read with auto_explain as the caller runs it.
"""

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import LiteralString

import numpy as np
import psycopg
import pytest

from local_stack.stack import LocalStack
from local_stack.users import User
from samples.bm25 import bm25, query_words, readable_passages
from samples.vectors import EmbeddingLike, copy_chunks, vector_literal
from tests.support import (
    insert_document,
    make_user,
    register_model,
    rows_of,
    supabase_client,
    workspace_with_viewer,
)

TOTAL = 30_000
SMALL = 30  # 0.1% of the table: a walk would step over ~1,000 rows per row of theirs
RARE = 6  # rows of the large user's that a metadata filter picks out
K = 10


@dataclass
class Crowd:
    small: User
    large: User
    member: User
    model: str  # has its own HNSW graph, built for the test
    minority_model: str  # no graph: searched by exact scan
    workspace: str
    small_doc: str
    shared_doc: str
    minority_doc: str
    queries: list[str]


@pytest.fixture(scope="module")
def crowd(stack: LocalStack) -> Iterator[Crowd]:
    small, large, member = (make_user(stack, n) for n in ("small", "large", "member"))
    # Models of this test only, so the graph built here is dropped at the end.
    model = f"plan-test-{uuid.uuid4().hex[:8]}"
    minority_model = f"{model}-minority"
    gen = EmbeddingLike(np.random.default_rng(20261201))
    vectors = gen.sample(TOTAL)
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        workspace = workspace_with_viewer(db, "plan", large, member)
        register_model(db, model)
        register_model(db, minority_model)
        small_doc = insert_document(db, small, None, "small", model=model)
        bulk_doc = insert_document(db, large, None, "bulk", model=model)
        rare_doc = insert_document(db, large, None, "rare", metadata='{"rare": true}', model=model)
        shared_doc = insert_document(db, large, workspace, "shared", model=model)
        # The minority model's rows have the very vectors of the small user's rows: a search of
        # either model must never return the other's.
        minority_doc = insert_document(db, small, None, "minority", model=minority_model)
        started = time.monotonic()
        shared = 50
        rest = TOTAL - SMALL - RARE - shared
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(copy_chunks, stack.db_url, small_doc, vectors[:SMALL]),
                pool.submit(copy_chunks, stack.db_url, minority_doc, vectors[:SMALL]),
                pool.submit(copy_chunks, stack.db_url, rare_doc, vectors[SMALL : SMALL + RARE]),
                pool.submit(copy_chunks, stack.db_url, shared_doc, vectors[SMALL + RARE : -rest]),
                pool.submit(copy_chunks, stack.db_url, bulk_doc, vectors[-rest:]),
            ]
            for job in jobs:
                job.result()
        db.execute("analyze public.document_chunks")
        db.execute("set maintenance_work_mem = '256MB'")
        db.execute("select private.add_embedding_model(%s)", (model,))
        print(f"{TOTAL} chunks and their graph in {time.monotonic() - started:.1f}s")
        try:
            yield Crowd(
                small=small,
                large=large,
                member=member,
                model=model,
                minority_model=minority_model,
                workspace=workspace,
                small_doc=small_doc,
                shared_doc=shared_doc,
                minority_doc=minority_doc,
                queries=[vector_literal(v) for v in gen.sample(5)],
            )
        finally:
            db.execute(
                "delete from auth.users where id = any(%s::uuid[])",
                ([small.id, large.id, member.id],),
            )
            db.execute("delete from public.workspaces where id = %s", (workspace,))
            for name in (model, minority_model):
                row = db.execute(
                    "delete from private.embedding_models where model = %s returning index_name",
                    (name,),
                ).fetchone()
                if row is not None and row[0] is not None:
                    db.execute(f'drop index if exists public."{row[0]}"')


def exact_top_k(
    db: psycopg.Connection, user: User, query: str, k: int, model: str, metadata: str = "{}"
) -> list[int]:
    """The true top-k of the rows `user` may see: computed as the caller, no index walk."""
    with db.transaction():
        db.execute("set local enable_indexscan = off")
        as_caller(db, user)
        rows = db.execute(
            "select id from public.document_chunks "
            "where embedding_model = %s and metadata @> %s::jsonb "
            "order by embedding operator(extensions.<=>) %s::extensions.vector, id limit %s",
            (model, metadata, query, k),
        ).fetchall()
    return [int(r[0]) for r in rows]


def as_caller(db: psycopg.Connection, user: User, client_id: str | None = None) -> None:
    """What PostgREST does for a request with the user's token (inside a transaction); with
    `client_id`, an agent's token as Supabase Auth's OAuth server issues it."""
    claims: dict[str, str] = {"sub": user.id, "role": "authenticated"}
    if client_id is not None:
        claims |= {"client_id": client_id, "scope": "openid email"}
    db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
    db.execute("set local role authenticated")


def search(stack: LocalStack, user: User, query: str, **params: object) -> list[dict[str, object]]:
    client = supabase_client(stack, stack.access_token(user))
    return rows_of(client.rpc("match_documents", {"query_embedding": query, **params}).execute())


def plans_as(
    stack: LocalStack,
    user: User,
    statement: str,
    params: tuple[object, ...],
    client_id: str | None = None,
) -> list[str]:
    """Every plan the statement ran, nested statements included, as the caller (auto_explain:
    preloaded, as on hosted, and set by postgres as supautils lets it)."""
    plans: list[str] = []
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        db.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        db.execute("set auto_explain.log_min_duration = 0")
        db.execute("set auto_explain.log_nested_statements = on")
        db.execute("set auto_explain.log_level = notice")
        db.execute("set client_min_messages = notice")
        with db.transaction():
            as_caller(db, user, client_id)
            db.execute(statement, params).fetchall()
    return plans


def nested_plans(
    stack: LocalStack,
    user: User,
    statement: str,
    params: tuple[object, ...],
    markers: tuple[str, ...] = ("<=>",),
) -> str:
    """The plans of the search statements, as the caller runs them (auto_explain).

    Only statements that read the chunks or the keyword index and hold a marker (`<=>`: those
    that rank by distance; the estimate's count is bounded by its LIMIT, and the planner may read
    it with a sequential scan that stops there)."""
    plans = plans_as(stack, user, statement, params)
    return "\n".join(
        p
        for p in plans
        if ("document_chunks" in p or "keyword_postings" in p) and any(m in p for m in markers)
    )


@pytest.mark.slow
def test_small_caller_gets_the_exact_top_k(stack: LocalStack, crowd: Crowd) -> None:
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for query in crowd.queries:
            rows = search(
                stack, crowd.small, query, match_count=K, filter_embedding_model=crowd.model
            )
            assert [r["id"] for r in rows] == exact_top_k(db, crowd.small, query, K, crowd.model)
            assert {r["document_id"] for r in rows} == {crowd.small_doc}
            # More than they have: all of it, still in order.
            rows = search(
                stack, crowd.small, query, match_count=100, filter_embedding_model=crowd.model
            )
            assert [r["id"] for r in rows] == exact_top_k(db, crowd.small, query, 100, crowd.model)
            assert len(rows) == SMALL


@pytest.mark.slow
def test_large_caller_gets_k_rows_with_good_recall(stack: LocalStack, crowd: Crowd) -> None:
    hits = 0
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for query in crowd.queries:
            rows = search(
                stack, crowd.large, query, match_count=K, filter_embedding_model=crowd.model
            )
            assert len(rows) == K
            similarities = [float(str(r["similarity"])) for r in rows]
            assert similarities == sorted(similarities, reverse=True)
            truth = exact_top_k(db, crowd.large, query, K, crowd.model)
            hits += len({r["id"] for r in rows} & set(truth))
    assert hits / (K * len(crowd.queries)) >= 0.9


@pytest.mark.slow
def test_a_walk_that_finds_too_few_is_answered_exactly(stack: LocalStack, crowd: Crowd) -> None:
    """A large caller's selective filter: the walk runs out of candidates, exact scan answers."""
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        query = crowd.queries[0]
        rows = search(
            stack,
            crowd.large,
            query,
            match_count=K,
            filter={"rare": True},
            filter_embedding_model=crowd.model,
        )
        truth = exact_top_k(db, crowd.large, query, K, crowd.model, '{"rare": true}')
        assert len(truth) == RARE
        assert [r["id"] for r in rows] == truth


@pytest.mark.slow
def test_workspace_member_sees_exactly_the_workspace(stack: LocalStack, crowd: Crowd) -> None:
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for query in crowd.queries[:2]:
            rows = search(
                stack, crowd.member, query, match_count=K, filter_embedding_model=crowd.model
            )
            assert {r["document_id"] for r in rows} == {crowd.shared_doc}
            assert [r["id"] for r in rows] == exact_top_k(db, crowd.member, query, K, crowd.model)


@pytest.mark.slow
def test_models_never_return_each_others_rows(stack: LocalStack, crowd: Crowd) -> None:
    """Identical vectors under two models: each search returns its own model's rows only, with
    and without a graph of its own; without a model filter, both (merged by distance)."""
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for query in crowd.queries[:2]:
            for model, doc in (
                (crowd.model, crowd.small_doc),
                (crowd.minority_model, crowd.minority_doc),
            ):
                rows = search(
                    stack, crowd.small, query, match_count=K, filter_embedding_model=model
                )
                assert {r["embedding_model"] for r in rows} == {model}
                assert {r["document_id"] for r in rows} == {doc}
                assert [r["id"] for r in rows] == exact_top_k(db, crowd.small, query, K, model)
            # The large user's walk of the graph never meets the minority model's rows.
            rows = search(
                stack, crowd.large, query, match_count=50, filter_embedding_model=crowd.model
            )
            assert {r["embedding_model"] for r in rows} == {crowd.model}
        rows = search(stack, crowd.small, crowd.queries[0], match_count=2 * SMALL)
        assert len(rows) == 2 * SMALL
        assert {r["document_id"] for r in rows} == {crowd.small_doc, crowd.minority_doc}


@pytest.mark.slow
def test_explain_as_the_caller_shows_the_chosen_plan(stack: LocalStack, crowd: Crowd) -> None:
    statement = (
        "select id from public.match_documents(%s::extensions.vector, %s, "
        "filter_embedding_model => %s)"
    )
    params = (crowd.queries[0], K, crowd.model)
    small = nested_plans(stack, crowd.small, statement, params)
    assert "Index Scan using document_chunks_hnsw_" not in small
    assert "document_chunks_owner_model_idx" in small
    assert "Seq Scan on document_chunks" not in small
    large = nested_plans(stack, crowd.large, statement, params)
    assert "Index Scan using document_chunks_hnsw_" in large
    assert "Seq Scan on document_chunks" not in large


@pytest.mark.slow
def test_only_the_database_owner_may_add_a_model(stack: LocalStack, crowd: Crowd) -> None:
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        for role in ("authenticated", "service_role", "anon"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
                db.execute(f"set local role {role}")
                db.execute("select private.add_embedding_model('sneaky-model')")
        row = db.execute(
            "select index_name from private.embedding_models where model = %s", (crowd.model,)
        ).fetchone()
        assert row is not None and str(row[0]).startswith("document_chunks_hnsw_")


@pytest.mark.slow
def test_hybrid_search_follows_the_caller_too(stack: LocalStack, crowd: Crowd) -> None:
    """Every row matches the words: the keyword side must rank the caller's rows, not scan all."""
    client = supabase_client(stack, stack.access_token(crowd.small))
    query = crowd.queries[0]
    rows = rows_of(
        client.rpc(
            "hybrid_search",
            {
                "query_text": "synthetic passage",
                "query_embedding": query,
                "match_count": K,
                "filter_embedding_model": crowd.model,
            },
        ).execute()
    )
    assert len(rows) == K
    assert {r["document_id"] for r in rows} == {crowd.small_doc}
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        # Each side brings up to max(20, 2 x match_count) candidates (a prefix of these).
        truth = exact_top_k(db, crowd.small, query, 100, crowd.model)
    semantic = sorted(
        (r for r in rows if r["semantic_rank"] is not None), key=lambda r: r["semantic_rank"]
    )
    assert [r["id"] for r in semantic] == [i for i in truth if i in {r["id"] for r in semantic}]
    plans = nested_plans(
        stack,
        crowd.small,
        "select id from public.hybrid_search('synthetic passage', %s::extensions.vector, %s, "
        "filter_embedding_model => %s)",
        (query, K, crowd.model),
        markers=("<=>", "keyword_postings"),
    )
    assert "keyword_postings_search_idx" in plans
    assert "Seq Scan on document_chunks" not in plans
    assert "Seq Scan on keyword_postings" not in plans


@pytest.mark.slow
def test_a_models_graph_can_be_rebuilt_in_the_other_storage(
    stack: LocalStack, crowd: Crowd
) -> None:
    """add_embedding_model(model, 'vector') replaces a halfvec graph, and back; searches hold."""
    with psycopg.connect(stack.db_url, autocommit=True) as db:

        def graph() -> tuple[str, str]:
            row = db.execute(
                "select index_name, index_storage from private.embedding_models where model = %s",
                (crowd.minority_model,),
            ).fetchone()
            assert row is not None
            return str(row[0]), str(row[1])

        def indexes() -> set[str]:
            rows = db.execute(
                "select indexname from pg_indexes where tablename = 'document_chunks' "
                "and indexname like 'document_chunks_hnsw_%%'"
            ).fetchall()
            return {str(r[0]) for r in rows}

        db.execute("select private.add_embedding_model(%s, 'vector')", (crowd.minority_model,))
        as_vector, storage = graph()
        assert storage == "vector" and as_vector in indexes()
        db.execute("select private.add_embedding_model(%s)", (crowd.minority_model,))
        as_halfvec, storage = graph()
        assert storage == "halfvec" and as_halfvec in indexes()
        assert as_vector not in indexes()
        rows = search(
            stack,
            crowd.small,
            crowd.queries[0],
            match_count=K,
            filter_embedding_model=crowd.minority_model,
        )
        assert [r["id"] for r in rows] == exact_top_k(
            db, crowd.small, crowd.queries[0], K, crowd.minority_model
        )


@pytest.mark.slow
def test_a_large_callers_keywords_come_from_the_keyword_index(
    stack: LocalStack, crowd: Crowd
) -> None:
    """The keyword side of a caller who sees ~30,000 rows reads the keyword index (postings of
    the query's words in their scopes), never the table, and ranks exactly as BM25 computed here
    over the rows RLS shows them."""
    words = "passage 123"
    statement = (
        "select id, keyword_rank from public.hybrid_search(%s, %s::extensions.vector, %s, "
        "filter_embedding_model => %s)"
    )
    params = (words, crowd.queries[0], K, crowd.model)
    plans = nested_plans(stack, crowd.large, statement, params, markers=("keyword_postings",))
    assert "keyword_postings_search_idx" in plans
    assert "Seq Scan on keyword_postings" not in plans
    assert "Seq Scan on document_chunks" not in plans
    claims = {"sub": crowd.large.id, "role": "authenticated"}
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        truth = bm25(readable_passages(db, claims, crowd.model), query_words(db, words))
        with db.transaction():
            as_caller(db, crowd.large)
            rows = db.execute(statement, params).fetchall()
    keyword = [(int(r[0]), int(r[1])) for r in rows if r[1] is not None]
    assert keyword
    assert all(truth[rank - 1][0] == chunk for chunk, rank in keyword)


@pytest.mark.slow
def test_statistics_tell_a_large_caller_from_a_small_one(stack: LocalStack, crowd: Crowd) -> None:
    """The table's statistics spare a large caller the bounded count and widen a partial
    caller's walk; they only ever choose a plan (the searches above hold the rows)."""

    def as_user(user: User | None, statement: LiteralString) -> object:
        with psycopg.connect(stack.db_url, autocommit=True) as db, db.transaction():
            if user is None:
                db.execute("set local role service_role")
            else:
                as_caller(db, user)
            row = db.execute(statement, {"model": crowd.model}).fetchone()
        assert row is not None
        return row[0]

    share = "select own_share from private.caller_scopes(%(model)s, null)"
    assert float(str(as_user(crowd.large, share))) >= 0.5
    assert float(str(as_user(crowd.small, share))) < 0.05
    ef = "select ef_search from private.search_plan(%(model)s, null, 'true')"
    assert as_user(crowd.large, ef) == 100
    assert as_user(crowd.member, ef) == 200
    assert as_user(None, ef) == 100  # RLS does not apply: the whole graph is theirs
    # The large caller is "many" by the statistics (the switch point, not a count); the small
    # one's rows are counted.
    switch = as_user(None, "select private.exact_scan_limit(%(model)s)")
    estimate = "select visible from private.search_plan(%(model)s, null, 'true')"
    assert as_user(crowd.large, estimate) == switch
    assert as_user(crowd.small, estimate) == SMALL
