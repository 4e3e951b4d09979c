"""The keyword ranking (BM25 over any of the query's words) is the formula, over the caller's rows.

private.visible_keyword_ranking reads a keyword index kept by triggers (postings and per-scope
totals, supabase/schemas/62_keyword_index.sql) as the table's owner. These tests hold it to
samples/bm25.py, computed here from the rows RLS lets each caller read: the same passages in the
same order with the same scores, for every caller of the RLS matrix; a stranger's rows never move
anyone else's scores; and the index stays right through inserts, updates and deletes of every
kind.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import numpy as np
import psycopg
import pytest

from local_stack.stack import LocalStack
from samples.bm25 import (
    Passage,
    as_caller,
    bm25,
    query_words,
    readable_passages,
    words_of,
)
from samples.vectors import unit_vector, vector_literal
from tests.support import (
    World,
    agent_token,
    insert_chunk,
    insert_document,
    make_user,
    rows_of,
    supabase_client,
    world,
)

# Passages of each document of the RLS matrix's world ({w}: a word only this test's rows hold).
# Lengths, repeats and a second word vary so that idf, tf saturation and length all matter.
EXTRA = {
    "P": ("{w} one", "{w} {w} two ferns grow in shade", "{v} alone"),
    "S": ("{w} three", "{w} {w} {w} and {v}", "nothing here but other words entirely"),
    "X": ("{w} four", "{w} {w} {w} {w} {w} {w} {v} {v}"),
}
# Documents each caller's token may read (the RLS matrix's select row).
SEES = {
    "owner": {"P", "S"},
    "editor": {"S"},
    "viewer": {"S"},
    "stranger": {"X"},
    "read_only_agent": {"P", "S"},
    "unscoped_agent": set(),
}
RANKING = (
    "select id, score from private.visible_keyword_ranking(%s, %s::jsonb, null, %s::uuid, "
    "null, 400)"
)


@pytest.fixture
def words(stack: LocalStack, db: psycopg.Connection) -> Iterator[tuple[World, str, str]]:
    """The RLS matrix's world, with passages holding two words no other test's rows hold."""
    w1, w2 = (f"kw{uuid.uuid4().hex[:10]}" for _ in range(2))
    rng = np.random.default_rng()
    with world(stack, db) as w:
        docs = {"P": w.private_doc, "S": w.shared_doc, "X": w.stranger_doc}
        for name, contents in EXTRA.items():
            for i, content in enumerate(contents, start=1):
                insert_chunk(db, docs[name], i, content.format(w=w1, v=w2), unit_vector(rng))
        yield w, w1, w2


def token_of(stack: LocalStack, w: World, actor: str) -> str:
    if actor == "read_only_agent":
        return agent_token(stack, w.owner, "read")
    if actor == "unscoped_agent":
        # An agent its user never let in: no grant.
        return agent_token(stack, w.owner, None)
    user = {"owner": w.owner, "editor": w.editor, "viewer": w.viewer, "stranger": w.stranger}
    return stack.access_token(user[actor])


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def ranking(
    db: psycopg.Connection, claims: dict[str, Any] | None, query: str, workspace: str | None = None
) -> list[tuple[int, float]]:
    with db.transaction():
        as_caller(db, claims)
        rows = db.execute(RANKING, (query, "{}", workspace)).fetchall()
    return [(int(i), float(s)) for i, s in rows]


def assert_same_ranking(found: list[tuple[int, float]], truth: list[tuple[int, float]]) -> None:
    assert [i for i, _ in found] == [i for i, _ in truth]
    assert [s for _, s in found] == pytest.approx([s for _, s in truth], rel=1e-9)


def documents_of(db: psycopg.Connection, w: World, ids: list[int]) -> set[str]:
    names = {w.private_doc: "P", w.shared_doc: "S", w.stranger_doc: "X"}
    rows = db.execute(
        "select document_id from public.document_chunks where id = any(%s)", (ids,)
    ).fetchall()
    return {names[str(r[0])] for r in rows}


@pytest.mark.parametrize("actor", list(SEES))
def test_the_ranking_is_bm25_over_exactly_what_rls_shows(
    stack: LocalStack, db: psycopg.Connection, words: tuple[World, str, str], actor: str
) -> None:
    w, w1, w2 = words
    token = token_of(stack, w, actor)
    claims = claims_of(token)
    query = f"Which of the {w1} or {w2}?"
    truth = bm25(readable_passages(db, claims), query_words(db, query))
    assert documents_of(db, w, [i for i, _ in truth]) == SEES[actor]
    assert_same_ranking(ranking(db, claims, query), truth)
    # Through PostgREST: keyword_search is that ranking, and so is hybrid_search's keyword side.
    client = supabase_client(stack, token)
    rows = rows_of(client.rpc("keyword_search", {"query_text": query, "match_count": 50}).execute())
    assert_same_ranking([(r["id"], r["score"]) for r in rows], truth)
    assert [r["keyword_rank"] for r in rows] == list(range(1, len(rows) + 1))
    rows = rows_of(
        client.rpc(
            "hybrid_search",
            {
                "query_text": query,
                "query_embedding": vector_literal(unit_vector(np.random.default_rng())),
                "match_count": 50,
                "filter_embedding_model": "test-model",
            },
        ).execute()
    )
    keyword = sorted(
        (r for r in rows if r["keyword_rank"] is not None), key=lambda r: r["keyword_rank"]
    )
    assert [r["id"] for r in keyword] == [i for i, _ in truth]


def test_rows_a_caller_cannot_read_never_move_their_scores(
    stack: LocalStack, db: psycopg.Connection, words: tuple[World, str, str]
) -> None:
    """A stranger writing many passages of the owner's words changes nothing the owner sees:
    no statistic of theirs is the owner's (otherwise the owner could detect the stranger's
    words by how their own scores move)."""
    w, w1, w2 = words
    owner = claims_of(token_of(stack, w, "owner"))
    query = f"{w1} {w2}"
    before = ranking(db, owner, query)
    rng = np.random.default_rng()
    for i in range(20):
        insert_chunk(db, w.stranger_doc, 100 + i, f"{w1} {w1} {w2} filler {i}", unit_vector(rng))
    after = ranking(db, owner, query)
    assert after == before  # bit for bit
    stranger = claims_of(token_of(stack, w, "stranger"))
    assert ranking(db, stranger, query) != []  # the stranger's own ranking did take them in


def test_filters_narrow_and_never_widen(
    stack: LocalStack, db: psycopg.Connection, words: tuple[World, str, str]
) -> None:
    """The stranger naming the owner's workspace, or a metadata filter, gets nothing more."""
    w, w1, _ = words
    stranger = claims_of(token_of(stack, w, "stranger"))
    assert ranking(db, stranger, w1, workspace=w.workspace) == []
    with db.transaction():
        as_caller(db, stranger)
        assert db.execute(RANKING, (w1, '{"none": true}', None)).fetchall() == []
    viewer = claims_of(token_of(stack, w, "viewer"))
    found = ranking(db, viewer, w1, workspace=w.workspace)
    assert found and documents_of(db, w, [i for i, _ in found]) == {"S"}
    # The owner filtering on the workspace: only its rows, scored with all the owner's statistics.
    owner = claims_of(token_of(stack, w, "owner"))
    everything = dict(ranking(db, owner, w1))
    in_workspace = ranking(db, owner, w1, workspace=w.workspace)
    assert documents_of(db, w, [i for i, _ in in_workspace]) == {"S"}
    assert all(everything[i] == s for i, s in in_workspace)


def test_only_authenticated_callers_may_run_it(db: psycopg.Connection) -> None:
    for role in ("anon", "service_role"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute(f"set local role {role}")
            db.execute(RANKING, ("anything", "{}", None))


def test_a_caller_without_a_token_gets_nothing(db: psycopg.Connection) -> None:
    """authenticated with no claims (no auth.uid()): no rows, not everyone's."""
    assert ranking(db, None, "synthetic") == []


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_no_api_role_reads_the_keyword_index(db: psycopg.Connection, role: str) -> None:
    for statement in (
        "select count(*) from private.keyword_postings",
        "select count(*) from private.keyword_cells",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute(f"set local role {role}")
            db.execute(statement)


def test_documents_by_their_best_passage(
    stack: LocalStack, db: psycopg.Connection, words: tuple[World, str, str]
) -> None:
    w, w1, w2 = words
    token = token_of(stack, w, "owner")
    query = f"{w1} {w2}"
    truth = bm25(readable_passages(db, claims_of(token)), query_words(db, query))
    document: dict[int, str] = dict(
        db.execute(
            "select id, document_id::text from public.document_chunks where id = any(%s)",
            ([i for i, _ in truth],),
        ).fetchall()
    )
    best: dict[str, int] = {}
    for i, _ in truth:
        best.setdefault(document[i], i)
    client = supabase_client(stack, token)
    rows = rows_of(
        client.rpc(
            "keyword_search", {"query_text": query, "match_count": 10, "group_by_document": True}
        ).execute()
    )
    assert [r["id"] for r in rows] == list(best.values())
    assert len({r["document_id"] for r in rows}) == len(rows) == 2


# -- the index stays right ---------------------------------------------------------------------


def index_of(db: psycopg.Connection, users: list[str]) -> tuple[dict[Any, Any], set[Any]]:
    """What the triggers keep, for these owners: totals per cell, and every posting."""
    cells = {
        (str(o), str(ws) if ws else None, m): (int(n), int(words))
        for o, ws, m, n, words in db.execute(
            "select owner_id, workspace_id, embedding_model, passages, words "
            "from private.keyword_cells where owner_id = any(%s::uuid[]) and passages > 0",
            (users,),
        ).fetchall()
    }
    postings = {
        (int(c), str(t), int(tf), int(length))
        for c, t, tf, length in db.execute(
            "select p.chunk_id, p.term, p.tf, p.length from private.keyword_postings p "
            "join private.keyword_cells k on k.id = p.cell_id where k.owner_id = any(%s::uuid[])",
            (users,),
        ).fetchall()
    }
    return cells, postings


def index_from_scratch(db: psycopg.Connection, users: list[str]) -> tuple[dict[Any, Any], set[Any]]:
    """The same, computed here from the rows as they are now."""
    rows = db.execute(
        "select c.id, c.owner_id, c.workspace_id, c.embedding_model, "
        "to_tsvector('english', d.title)::text, to_tsvector('english', c.content)::text "
        "from public.document_chunks c join public.documents d on d.id = c.document_id "
        "where c.owner_id = any(%s::uuid[])",
        (users,),
    ).fetchall()
    cells: dict[Any, Any] = {}
    postings = set()
    for i, owner, ws, model, title, text in rows:
        p = Passage(int(i), "", words_of(str(title)) + words_of(str(text)))
        if not p.words:
            continue
        key = (str(owner), str(ws) if ws else None, str(model))
        n, total = cells.get(key, (0, 0))
        cells[key] = (n + 1, total + p.length)
        postings |= {(p.id, t, tf, p.length) for t, tf in p.words.items()}
    return cells, postings


def test_the_index_stays_right_through_every_kind_of_write(
    stack: LocalStack, db: psycopg.Connection
) -> None:
    owner, other = make_user(stack, "kw-writer"), make_user(stack, "kw-other")
    users = [owner.id, other.id]
    rng = np.random.default_rng()
    try:

        def check() -> None:
            assert index_of(db, users) == index_from_scratch(db, users)

        ws = str(
            db.execute(
                "insert into public.workspaces (name, created_by) values ('kw', %s) returning id",
                (owner.id,),
            ).fetchone()[0]  # type: ignore[index]
        )
        doc = insert_document(db, owner, None, "Ferns and mosses")
        second = insert_document(db, other, None, "Lichens")
        with db.cursor().copy(
            "copy public.document_chunks (document_id, chunk_index, content, embedding) from stdin"
        ) as copy:
            for i in range(5):
                copy.write_row(
                    (
                        doc,
                        i,
                        f"fern {i} grows in the shade of fern",
                        vector_literal(unit_vector(rng)),
                    )
                )
        check()
        # One row at a time; passages of only punctuation or stop words have no words.
        ids = [
            insert_chunk(db, second, i, text, unit_vector(rng))
            for i, text in enumerate(["lichen on rock", "... !!! ???", "the of and"])
        ]
        check()
        db.execute(
            "update public.document_chunks set content = 'moss and more moss' "
            "where document_id = %s and chunk_index = 1",
            (doc,),
        )
        check()
        db.execute("update public.documents set title = 'Mosses, ferns' where id = %s", (doc,))
        check()
        db.execute(
            "update public.documents set metadata = '{\"x\": 1}', category = 'c' where id = %s",
            (doc,),
        )
        check()
        db.execute("update public.documents set workspace_id = %s where id = %s", (ws, doc))
        check()
        db.execute("delete from public.document_chunks where id = %s", (ids[0],))
        check()
        db.execute("delete from public.documents where id = %s", (doc,))
        check()
        db.execute("delete from auth.users where id = %s", (other.id,))
        assert index_of(db, users) == ({}, set())
    finally:
        db.execute("delete from auth.users where id = any(%s::uuid[])", (users,))
        db.execute("delete from public.workspaces where created_by = %s", (owner.id,))
