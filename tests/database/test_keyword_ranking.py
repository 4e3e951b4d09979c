"""hybrid_search's keyword side through the full-text index: exactly what RLS shows the caller.

private.visible_keyword_ranking runs as the table's owner with the chunks' read policy written
into its statement (so the GIN index is usable under RLS). These tests hold that copy of the
policy to the policy itself: for every kind of caller, its answer, and hybrid_search's keyword
ranking, equal the same ranking computed as the caller under RLS.
"""

import json
import uuid
from collections.abc import Iterator

import jwt
import numpy as np
import psycopg
import pytest

from local_stack.stack import LocalStack
from samples.vectors import unit_vector, vector_literal
from tests.support import World, agent_token, insert_chunk, rows_of, supabase_client, world

# Contents of the chunks added to each document: the word repeated ranks higher.
EXTRA = {"P": ("{w} one", "{w} {w} two"), "S": ("{w} three", "{w} {w} {w}"), "X": ("{w} four",)}
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
    "select private.visible_keyword_ranking("
    "websearch_to_tsquery('english', %s), %s::jsonb, null, %s::uuid, null, 400)"
)


@pytest.fixture
def words(stack: LocalStack, db: psycopg.Connection) -> Iterator[tuple[World, str]]:
    """The RLS matrix's world, with chunks sharing one word no other test's rows hold."""
    word = f"kw{uuid.uuid4().hex[:10]}"
    rng = np.random.default_rng()
    with world(stack, db) as w:
        docs = {"P": w.private_doc, "S": w.shared_doc, "X": w.stranger_doc}
        for name, contents in EXTRA.items():
            for i, content in enumerate(contents, start=1):
                insert_chunk(db, docs[name], i, content.format(w=word), unit_vector(rng))
        yield w, word


def token_of(stack: LocalStack, w: World, actor: str) -> str:
    if actor == "read_only_agent":
        return agent_token(stack, w.owner, "read")
    if actor == "unscoped_agent":
        # An agent its user never let in: no grant.
        return agent_token(stack, w.owner, None)
    user = {"owner": w.owner, "editor": w.editor, "viewer": w.viewer, "stranger": w.stranger}
    return stack.access_token(user[actor])


def as_token(db: psycopg.Connection, token: str) -> None:
    """What PostgREST does with a verified token, inside a transaction."""
    claims = jwt.decode(token, options={"verify_signature": False})
    db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
    db.execute("set local role authenticated")


def ranking_under_rls(db: psycopg.Connection, token: str, word: str) -> list[int]:
    """The truth: the keyword ranking read as the caller, RLS filtering every row."""
    with db.transaction():
        as_token(db, token)
        rows = db.execute(
            "select c.id from public.document_chunks c "
            "where c.fts @@ websearch_to_tsquery('english', %s) "
            "order by ts_rank_cd(c.fts, websearch_to_tsquery('english', %s)) desc, c.id",
            (word, word),
        ).fetchall()
    return [int(r[0]) for r in rows]


def documents_of(db: psycopg.Connection, w: World, ids: list[int]) -> set[str]:
    names = {w.private_doc: "P", w.shared_doc: "S", w.stranger_doc: "X"}
    rows = db.execute(
        "select document_id from public.document_chunks where id = any(%s)", (ids,)
    ).fetchall()
    return {names[str(r[0])] for r in rows}


@pytest.mark.parametrize("actor", list(SEES))
def test_the_ranking_is_exactly_what_rls_shows(
    stack: LocalStack, db: psycopg.Connection, words: tuple[World, str], actor: str
) -> None:
    w, word = words
    token = token_of(stack, w, actor)
    truth = ranking_under_rls(db, token, word)
    assert documents_of(db, w, truth) == SEES[actor]
    with db.transaction():
        as_token(db, token)
        row = db.execute(RANKING, (word, "{}", None)).fetchone()
    assert row is not None
    assert row[0] == truth
    # Through PostgREST: hybrid_search's keyword side is that ranking.
    client = supabase_client(stack, token)
    rows = rows_of(
        client.rpc(
            "hybrid_search",
            {
                "query_text": word,
                "query_embedding": vector_literal(unit_vector(np.random.default_rng())),
                "match_count": 20,
                "filter_embedding_model": "test-model",
            },
        ).execute()
    )
    keyword = sorted(
        (r for r in rows if r["keyword_rank"] is not None), key=lambda r: r["keyword_rank"]
    )
    assert [r["id"] for r in keyword] == truth


def test_filters_narrow_and_never_widen(
    stack: LocalStack, db: psycopg.Connection, words: tuple[World, str]
) -> None:
    """The stranger naming the owner's workspace, or a metadata filter, gets nothing more."""
    w, word = words
    token = token_of(stack, w, "stranger")
    with db.transaction():
        as_token(db, token)
        in_w = db.execute(RANKING, (word, "{}", w.workspace)).fetchone()
        tagged = db.execute(RANKING, (word, '{"none": true}', None)).fetchone()
    assert in_w is not None and in_w[0] == []
    assert tagged is not None and tagged[0] == []
    viewer = token_of(stack, w, "viewer")
    with db.transaction():
        as_token(db, viewer)
        row = db.execute(RANKING, (word, "{}", w.workspace)).fetchone()
    assert row is not None
    assert documents_of(db, w, row[0]) == {"S"}


def test_only_authenticated_callers_may_run_it(db: psycopg.Connection) -> None:
    for role in ("anon", "service_role"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
            db.execute(f"set local role {role}")
            db.execute(RANKING, ("anything", "{}", None))


def test_a_caller_without_a_token_gets_nothing(db: psycopg.Connection) -> None:
    """authenticated with no claims (no auth.uid()): no rows, not everyone's."""
    with db.transaction():
        db.execute("set local role authenticated")
        row = db.execute(RANKING, ("synthetic", "{}", None)).fetchone()
    assert row is not None and row[0] == []
