"""match_documents and hybrid_search: exact results on a small set, filters, thresholds, RLS.

Searches go through supabase-py with real user tokens; the expected answers are computed here
with numpy from the vectors the test itself inserted.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import pytest

from local_stack.stack import LocalStack, User
from tests.support import (
    insert_chunk,
    insert_document,
    make_user,
    rows_of,
    supabase_client,
    unit_vector,
    with_similarity,
    workspace_with_viewer,
)

K = 10


@dataclass
class Corpus:
    reader: User
    stranger: User
    workspace: str
    token: str
    query: list[float]
    # chunk id -> (vector, document metadata lang, category, workspace or None)
    visible: dict[int, tuple[np.ndarray, str, str, str | None]] = field(default_factory=dict)
    stranger_chunk: int = 0
    keyword_chunk: int = 0
    other_model_chunk: int = 0


@pytest.fixture(scope="module")
def corpus(stack: LocalStack) -> Iterator[Corpus]:
    rng = np.random.default_rng(20261126)
    query = unit_vector(rng)
    reader, colleague, stranger = (make_user(stack, n) for n in ("reader", "colleague", "stranger"))
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        workspace = workspace_with_viewer(db, "team", colleague, reader)
        c = Corpus(
            reader=reader,
            stranger=stranger,
            workspace=workspace,
            token=stack.access_token(reader),
            query=query,
        )
        layout = [
            (reader, None, '{"lang": "en"}', "notes", 60),
            (reader, None, '{"lang": "de"}', "notes", 40),
            (reader, None, '{"lang": "en", "kind": "faq"}', "faq", 40),
            (colleague, workspace, '{"lang": "en"}', "notes", 30),
        ]
        for owner, ws, metadata, category, count in layout:
            doc = insert_document(db, owner, ws, "doc", metadata=metadata, category=category)
            lang = "de" if '"de"' in metadata else "en"
            for i in range(count):
                # Distinct similarities to the query, so the exact top-k is well defined.
                v = with_similarity(rng, query, float(rng.uniform(-0.5, 0.95)))
                chunk = insert_chunk(db, doc, i, f"passage {i} about nothing", v)
                c.visible[chunk] = (np.array(v), lang, category, ws)
        # Nearer than anything the reader may see: must never appear in the reader's results.
        theirs = insert_document(
            db, stranger, None, "secret", metadata='{"lang": "en"}', category="notes"
        )
        c.stranger_chunk = insert_chunk(db, theirs, 0, "zebra crossing secret", query)
        # Only the keyword side of hybrid search can find this one: its vector is far away.
        kw_doc = insert_document(
            db, reader, None, "kw", metadata='{"lang": "en"}', category="notes"
        )
        far = [-x for x in query]
        c.keyword_chunk = insert_chunk(db, kw_doc, 0, "the zebra crossing rules", far)
        c.visible[c.keyword_chunk] = (np.array(far), "en", "notes", None)
        # The same text embedded by another model is not comparable and must be filterable out.
        other = insert_document(
            db,
            reader,
            None,
            "other model",
            metadata='{"lang": "en"}',
            category="notes",
            model="other-model",
        )
        c.other_model_chunk = insert_chunk(db, other, 0, "other model passage", query)
        c.visible[c.other_model_chunk] = (np.array(query), "en", "notes", None)
        yield c
        db.execute(
            "delete from auth.users where id = any(%s::uuid[])",
            ([reader.id, colleague.id, stranger.id],),
        )
        db.execute("delete from public.workspaces where id = %s", (workspace,))


Keep = Callable[[int, str, str, str | None], bool]


def brute_force(c: Corpus, k: int, keep: Keep | None = None, threshold: float = -1.0) -> list[int]:
    q = np.array(c.query)
    scored = [
        (float(vec @ q), chunk)
        for chunk, (vec, lang, category, ws) in c.visible.items()
        if keep is None or keep(chunk, lang, category, ws)
    ]
    scored = [s for s in scored if s[0] >= threshold]
    return [chunk for _, chunk in sorted(scored, key=lambda s: (-s[0], s[1]))[:k]]


def rpc(stack: LocalStack, c: Corpus, name: str, **params: object) -> list[dict[str, Any]]:
    client = supabase_client(stack, c.token)
    return rows_of(client.rpc(name, {"query_embedding": c.query, **params}).execute())


def test_equals_exact_top_k_with_match_count(stack: LocalStack, corpus: Corpus) -> None:
    rows = rpc(stack, corpus, "match_documents", match_count=K, filter_embedding_model="test-model")
    expected = brute_force(corpus, K, lambda ch, *_: ch != corpus.other_model_chunk)
    assert [r["id"] for r in rows] == expected
    q = np.array(corpus.query)
    for r in rows:
        assert r["similarity"] == pytest.approx(
            float(corpus.visible[int(r["id"])][0] @ q), abs=1e-5
        )
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True)


def test_langchain_python_call_shape(stack: LocalStack, corpus: Corpus) -> None:
    """LangChain's Python store sends only query_embedding and filter, then chains .limit(k)."""
    client = supabase_client(stack, corpus.token)
    response = (
        client.rpc("match_documents", {"query_embedding": corpus.query, "filter": {"lang": "en"}})
        .limit(4)
        .execute()
    )
    rows = rows_of(response)
    expected = brute_force(corpus, 4, lambda ch, lang, *_: lang == "en")
    assert [r["id"] for r in rows] == expected
    assert set(rows[0]) >= {"id", "content", "metadata", "similarity", "document_id"}


def test_postgrest_filters_apply_on_top(stack: LocalStack, corpus: Corpus) -> None:
    client = supabase_client(stack, corpus.token)
    response = (
        client.rpc("match_documents", {"query_embedding": corpus.query, "match_count": 50})
        .select("id,similarity,category")
        .eq("category", "faq")
        .limit(3)
        .execute()
    )
    rows = rows_of(response)
    assert len(rows) == 3
    assert all(r["category"] == "faq" for r in rows)
    assert set(rows[0]) == {"id", "similarity", "category"}


def test_threshold_keeps_only_similar_enough(stack: LocalStack, corpus: Corpus) -> None:
    threshold = 0.8
    rows = rpc(stack, corpus, "match_documents", match_count=100, match_threshold=threshold)
    assert len(rows) < 100, "the threshold, not match_count, ends the list"
    assert rows, "the threshold is low enough that some rows pass it"
    assert all(float(r["similarity"]) >= threshold for r in rows)
    assert [r["id"] for r in rows] == brute_force(corpus, 100, threshold=threshold)


def test_metadata_category_and_workspace_filters(stack: LocalStack, corpus: Corpus) -> None:
    rows = rpc(stack, corpus, "match_documents", match_count=K, filter={"lang": "de"})
    assert [r["id"] for r in rows] == brute_force(corpus, K, lambda ch, lang, *_: lang == "de")
    assert all(r["metadata"] == {"lang": "de"} for r in rows)

    rows = rpc(stack, corpus, "match_documents", match_count=K, filter_category="faq")
    assert [r["id"] for r in rows] == brute_force(corpus, K, lambda ch, lang, cat, ws: cat == "faq")

    rows = rpc(
        stack, corpus, "match_documents", match_count=K, filter_workspace_id=corpus.workspace
    )
    expected = brute_force(corpus, K, lambda ch, lang, cat, ws: ws == corpus.workspace)
    assert [r["id"] for r in rows] == expected
    assert all(r["workspace_id"] == corpus.workspace for r in rows)


def test_another_users_nearer_rows_never_appear(stack: LocalStack, corpus: Corpus) -> None:
    rows = rpc(stack, corpus, "match_documents", match_count=1000)
    ids = {r["id"] for r in rows}
    assert corpus.stranger_chunk not in ids
    # The walk is approximate, so it need not reach every visible row; it must reach no other.
    assert len(ids) > len(corpus.visible) // 2
    assert ids <= set(corpus.visible)


def test_embedding_model_filter_keeps_models_apart(stack: LocalStack, corpus: Corpus) -> None:
    rows = rpc(stack, corpus, "match_documents", match_count=K)
    assert rows[0]["id"] == corpus.other_model_chunk  # identical vector, unfiltered
    rows = rpc(
        stack, corpus, "match_documents", match_count=1000, filter_embedding_model="test-model"
    )
    assert corpus.other_model_chunk not in {r["id"] for r in rows}
    assert {r["embedding_model"] for r in rows} == {"test-model"}


def test_hybrid_search_fuses_keyword_and_semantic(stack: LocalStack, corpus: Corpus) -> None:
    rows = rpc(stack, corpus, "hybrid_search", query_text="zebra crossing", match_count=K)
    ids = [r["id"] for r in rows]
    # The keyword-only match is found although its vector points away from the query.
    assert corpus.keyword_chunk in ids
    keyword_row = rows[ids.index(corpus.keyword_chunk)]
    assert keyword_row["keyword_rank"] == 1
    assert keyword_row["semantic_rank"] is None
    # The stranger's chunk matches both words and the vector exactly, yet is not visible.
    assert corpus.stranger_chunk not in ids
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    # Semantic ranks are match_documents' own order.
    semantic = [
        r["id"]
        for r in sorted(
            (r for r in rows if r["semantic_rank"] is not None), key=lambda r: r["semantic_rank"]
        )
    ]
    assert semantic == [i for i in brute_force(corpus, 2 * K) if i in set(semantic)]


def test_hybrid_search_weights(stack: LocalStack, corpus: Corpus) -> None:
    rows = rpc(
        stack,
        corpus,
        "hybrid_search",
        query_text="zebra crossing",
        match_count=K,
        semantic_weight=0,
    )
    assert rows[0]["id"] == corpus.keyword_chunk
    rows = rpc(
        stack,
        corpus,
        "hybrid_search",
        query_text="zebra crossing",
        match_count=K,
        full_text_weight=0,
    )
    assert [r["id"] for r in rows][:3] == brute_force(corpus, 3)


def test_hybrid_threshold_applies_before_the_top_k(stack: LocalStack, corpus: Corpus) -> None:
    """A passage less similar than the threshold takes no place among the k: up to k rows come
    back, all at least that similar, whichever side found them."""
    threshold = 0.5
    plain = rpc(stack, corpus, "hybrid_search", query_text="zebra crossing", match_count=K)
    assert corpus.keyword_chunk in {r["id"] for r in plain}  # far below it, yet ranked
    rows = rpc(
        stack,
        corpus,
        "hybrid_search",
        query_text="zebra crossing",
        match_count=K,
        match_threshold=threshold,
    )
    assert len(rows) == K
    assert all(float(r["similarity"]) >= threshold for r in rows)
    assert corpus.keyword_chunk not in {r["id"] for r in rows}
    every = rpc(
        stack,
        corpus,
        "hybrid_search",
        query_text="zebra crossing",
        match_count=200,
        match_threshold=threshold,
    )
    assert {r["id"] for r in every} == set(brute_force(corpus, 1000, threshold=threshold))
