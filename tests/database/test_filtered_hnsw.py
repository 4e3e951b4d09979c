"""A user who owns 1% of 20k chunks still gets k rows, from the HNSW index, with RLS applied."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import psycopg
import pytest

from local_stack.stack import LocalStack, User
from tests.support import (
    EmbeddingLike,
    copy_chunks,
    insert_document,
    make_user,
    rows_of,
    supabase_client,
    vector_literal,
)

TOTAL = 20_000
SHARE = 0.01
K = 10


@dataclass
class Crowd:
    minority: User
    majority: User
    minority_doc: str
    query: str


@pytest.fixture(scope="module")
def crowd(stack: LocalStack) -> Iterator[Crowd]:
    minority, majority = make_user(stack, "one-percent"), make_user(stack, "majority")
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        mine = insert_document(db, minority, None, "mine")
        theirs = insert_document(db, majority, None, "theirs")
        started = time.monotonic()
        vectors = EmbeddingLike(np.random.default_rng(1126)).sample(TOTAL)
        mine_count = int(TOTAL * SHARE)
        # Two writers: HNSW inserts dominate and the index takes concurrent inserts.
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(copy_chunks, stack.db_url, mine, vectors[:mine_count]),
                pool.submit(copy_chunks, stack.db_url, theirs, vectors[mine_count::2], mine_count),
                pool.submit(copy_chunks, stack.db_url, theirs, vectors[mine_count + 1 :: 2], TOTAL),
            ]
            for job in jobs:
                job.result()
        db.execute("analyze public.document_chunks")
        print(f"inserted {TOTAL} chunks in {time.monotonic() - started:.1f}s")
        yield Crowd(minority, majority, mine, vector_literal(vectors[-1]))
        db.execute(
            "delete from auth.users where id = any(%s::uuid[])", ([minority.id, majority.id],)
        )


def exact_top_k(db: psycopg.Connection, crowd: Crowd, k: int) -> list[int]:
    """The true top-k of the minority's rows: a sequential scan, no index."""
    db.execute("set enable_indexscan = off")
    db.execute("set enable_bitmapscan = off")
    rows = db.execute(
        "select id from public.document_chunks where owner_id = %s "
        "order by embedding operator(extensions.<=>) %s::extensions.vector limit %s",
        (crowd.minority.id, crowd.query, k),
    ).fetchall()
    db.execute("reset enable_indexscan")
    db.execute("reset enable_bitmapscan")
    return [int(r[0]) for r in rows]


@pytest.mark.slow
def test_one_percent_owner_gets_k_rows_with_good_recall(stack: LocalStack, crowd: Crowd) -> None:
    client = supabase_client(stack, stack.access_token(crowd.minority))
    rows = rows_of(
        client.rpc("match_documents", {"query_embedding": crowd.query, "match_count": K}).execute()
    )
    assert len(rows) == K
    assert {r["document_id"] for r in rows} == {crowd.minority_doc}
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        truth = exact_top_k(db, crowd, K)
    recall = len({r["id"] for r in rows} & set(truth)) / K
    print(f"recall@{K} for a 1% owner: {recall:.2f}")
    assert recall >= 0.9


@pytest.mark.slow
def test_search_walks_the_hnsw_index_as_the_caller(stack: LocalStack, crowd: Crowd) -> None:
    """EXPLAIN the statement inside match_documents, run as `authenticated` with the JWT claims."""
    plans: list[str] = []
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        db.add_notice_handler(lambda notice: plans.append(notice.message_primary or ""))
        db.execute("load 'auto_explain'")
        db.execute("set auto_explain.log_min_duration = 0")
        db.execute("set auto_explain.log_nested_statements = on")
        db.execute("set auto_explain.log_level = notice")
        db.execute("set client_min_messages = notice")
        claims = f'{{"sub": "{crowd.minority.id}", "role": "authenticated"}}'
        with db.transaction():
            db.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            db.execute("set local role authenticated")
            rows = db.execute(
                "select id from public.match_documents(%s::extensions.vector, %s)",
                (crowd.query, K),
            ).fetchall()
    assert len(rows) == K
    inner = [p for p in plans if "with nearest as materialized" in p]
    assert len(inner) == 1, f"no nested plan captured: {plans}"
    assert "Index Scan using document_chunks_embedding_hnsw_idx on document_chunks" in inner[0]
    assert "Seq Scan on document_chunks" not in inner[0]
    assert "Bitmap" not in inner[0]
