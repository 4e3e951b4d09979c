"""The RLS matrix: every table x verb x actor, through raw PostgREST HTTP and through supabase-py.

Each case builds a fresh world (owner, editor, viewer, stranger, workspace W, documents P, S, X),
acts as one actor with a real token, and checks both the answer and what is really in the table.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from postgrest.exceptions import APIError

from local_stack.stack import LocalStack
from tests.support import (
    World,
    agent_token,
    forged_token,
    rest_client,
    rows_of,
    supabase_client,
    unit_vector,
    world,
)

ACTORS = ["owner", "editor", "viewer", "stranger", "anon", "read_only_agent", "expired", "forged"]
TABLES = [
    "documents",
    "document_chunks",
    "workspaces",
    "workspace_members",
    "workspace_invitations",
    "vector_store",
]
VERBS = ["select", "insert", "update", "delete"]

# Refusals, by who refuses:
UNAUTHORIZED = "anon has no privilege"  # 401, 42501 (anon has no grants on knowledge tables)
RLS_DENIED = "policy refuses the row"  # 403, 42501 (new row violates row-level security)
EXPIRED = "expired token"  # 401, PGRST301 "JWT expired", before any SQL runs
FORGED = "forged token"  # 401, PGRST301 "JWSInvalidSignature", before any SQL runs
CREATED = "created"

BAD_TOKENS = {"anon": UNAUTHORIZED, "expired": EXPIRED, "forged": FORGED}

# select: the rows each actor sees (named: P, S, X documents; W workspace; member roles).
# insert: created or which refusal. update/delete: how many rows were changed, or which refusal.
EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    ("documents", "select"): {
        "owner": {"P", "S"},
        "editor": {"S"},
        "viewer": {"S"},
        "stranger": {"X"},
        "read_only_agent": {"P", "S"},
    },
    ("documents", "insert"): {
        "owner": CREATED,
        "editor": CREATED,
        "viewer": RLS_DENIED,
        "stranger": RLS_DENIED,
        "read_only_agent": RLS_DENIED,
    },
    ("documents", "update"): {
        "owner": 1,
        "editor": 1,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("documents", "delete"): {
        "owner": 1,
        "editor": 1,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("document_chunks", "select"): {
        "owner": {"P", "S"},
        "editor": {"S"},
        "viewer": {"S"},
        "stranger": {"X"},
        "read_only_agent": {"P", "S"},
    },
    ("document_chunks", "insert"): {
        "owner": CREATED,
        "editor": CREATED,
        "viewer": RLS_DENIED,
        "stranger": RLS_DENIED,
        "read_only_agent": RLS_DENIED,
    },
    ("document_chunks", "update"): {
        "owner": 1,
        "editor": 1,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("document_chunks", "delete"): {
        "owner": 1,
        "editor": 1,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    # vector_store (LangChain's door) writes through to documents and chunks as the caller. A
    # viewer sees the row, so the write reaches the documents policies, which refuse it: the whole
    # statement fails (403) rather than changing nothing. The read-only agent's token is refused
    # by vector_store's own policies first (nothing matches: 0 rows).
    ("vector_store", "select"): {
        "owner": {"P", "S"},
        "editor": {"S"},
        "viewer": {"S"},
        "stranger": {"X"},
        "read_only_agent": {"P", "S"},
    },
    ("vector_store", "insert"): {
        "owner": CREATED,
        "editor": CREATED,
        "viewer": RLS_DENIED,
        "stranger": RLS_DENIED,
        "read_only_agent": RLS_DENIED,
    },
    ("vector_store", "update"): {
        "owner": 1,
        "editor": 1,
        "viewer": RLS_DENIED,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("vector_store", "delete"): {
        "owner": 1,
        "editor": 1,
        "viewer": RLS_DENIED,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("workspaces", "select"): {
        "owner": {"W"},
        "editor": {"W"},
        "viewer": {"W"},
        "stranger": set(),
        "read_only_agent": {"W"},
    },
    ("workspaces", "insert"): {
        "owner": CREATED,
        "editor": CREATED,
        "viewer": CREATED,
        "stranger": CREATED,
        "read_only_agent": RLS_DENIED,
    },
    ("workspaces", "update"): {
        "owner": 1,
        "editor": 0,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("workspaces", "delete"): {
        "owner": 1,
        "editor": 0,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    ("workspace_members", "select"): {
        "owner": {"owner", "editor", "viewer"},
        "editor": {"owner", "editor", "viewer"},
        "viewer": {"owner", "editor", "viewer"},
        "stranger": set(),
        "read_only_agent": {"owner", "editor", "viewer"},
    },
    # Target: adding the stranger to W. Nobody may: a seat is taken only by accepting an
    # invitation (there is none here), never given.
    ("workspace_members", "insert"): {
        "owner": RLS_DENIED,
        "editor": RLS_DENIED,
        "viewer": RLS_DENIED,
        "stranger": RLS_DENIED,
        "read_only_agent": RLS_DENIED,
    },
    # Target: promoting the viewer to editor.
    ("workspace_members", "update"): {
        "owner": 1,
        "editor": 0,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    # Target: the editor's membership (the editor may leave; only the owner may remove others).
    ("workspace_members", "delete"): {
        "owner": 1,
        "editor": 1,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    # W holds one invitation, for the stranger (as viewer).
    ("workspace_invitations", "select"): {
        "owner": {"stranger"},
        "editor": set(),
        "viewer": set(),
        "stranger": {"stranger"},
        "read_only_agent": {"stranger"},
    },
    # Target: inviting someone new to W.
    ("workspace_invitations", "insert"): {
        "owner": CREATED,
        "editor": RLS_DENIED,
        "viewer": RLS_DENIED,
        "stranger": RLS_DENIED,
        "read_only_agent": RLS_DENIED,
    },
    # Target: offering the stranger an editor's seat instead.
    ("workspace_invitations", "update"): {
        "owner": 1,
        "editor": 0,
        "viewer": 0,
        "stranger": 0,
        "read_only_agent": 0,
    },
    # Target: the stranger's invitation (withdrawn by the owner, or declined by the stranger).
    ("workspace_invitations", "delete"): {
        "owner": 1,
        "editor": 0,
        "viewer": 0,
        "stranger": 1,
        "read_only_agent": 0,
    },
}


def expected(table: str, verb: str, actor: str) -> Any:
    return BAD_TOKENS.get(actor) or EXPECTED[(table, verb)][actor]


def token_for(stack: LocalStack, w: World, actor: str) -> str | None:
    if actor == "anon":
        return None
    if actor == "read_only_agent":
        return agent_token(stack, w.owner, "read")
    if actor == "expired":
        return stack.access_token(w.owner, expires_in=-3600)
    if actor == "forged":
        return forged_token(stack, w.owner)
    return stack.access_token(getattr(w, actor))


@dataclass(frozen=True)
class Target:
    """What each verb touches in a table, and how rows are named in results."""

    filters: Callable[[World], dict[str, str]]
    insert: Callable[[World], dict[str, Any]]
    update: dict[str, Any]
    name: Callable[[World, dict[str, Any]], str]
    count_sql: str  # how many rows match the target, and (for updates) still look untouched


def _doc_name(w: World, doc_id: str) -> str:
    return {w.private_doc: "P", w.shared_doc: "S", w.stranger_doc: "X"}.get(doc_id, "other")


def _member_name(w: World, user_id: str) -> str:
    return {w.owner.id: "owner", w.editor.id: "editor", w.viewer.id: "viewer"}.get(
        user_id, "stranger"
    )


_rng = np.random.default_rng(7)


def _newcomer(w: World) -> str:
    """The id an invitation target offers a seat to: no account, and new in every world."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, w.workspace))


TARGETS: dict[str, Target] = {
    "documents": Target(
        filters=lambda w: {"id": w.shared_doc},
        insert=lambda w: {
            "title": "new",
            "workspace_id": w.workspace,
            "embedding_model": "test-model",
            "content_hash": uuid.uuid4().hex * 2,
        },
        update={"title": "renamed"},
        name=lambda w, row: _doc_name(w, row["id"]),
        count_sql="select count(*) from public.documents where id = %(id)s and title <> 'renamed'",
    ),
    "document_chunks": Target(
        filters=lambda w: {"document_id": w.shared_doc},
        insert=lambda w: {
            "document_id": w.shared_doc,
            "chunk_index": 1,
            "content": "added",
            "embedding": unit_vector(_rng),
        },
        update={"content": "rewritten"},
        name=lambda w, row: _doc_name(w, row["document_id"]),
        count_sql="select count(*) from public.document_chunks "
        "where document_id = %(document_id)s and content <> 'rewritten'",
    ),
    "vector_store": Target(
        filters=lambda w: {"id": w.shared_doc},
        insert=lambda w: {
            "content": "new",
            "workspace_id": w.workspace,
            "embedding": unit_vector(_rng),
            "embedding_model": "test-model",
        },
        update={"content": "rewritten"},
        name=lambda w, row: _doc_name(w, row["id"]),
        count_sql="select count(*) from public.documents "
        "where id = %(id)s and content is distinct from 'rewritten'",
    ),
    "workspaces": Target(
        filters=lambda w: {"id": w.workspace},
        insert=lambda w: {"name": "another workspace"},
        update={"name": "renamed"},
        name=lambda w, row: "W" if row["id"] == w.workspace else "other",
        count_sql="select count(*) from public.workspaces where id = %(id)s and name <> 'renamed'",
    ),
    "workspace_members": Target(
        filters=lambda w: {"workspace_id": w.workspace, "user_id": w.viewer.id},
        insert=lambda w: {"workspace_id": w.workspace, "user_id": w.stranger.id, "role": "viewer"},
        update={"role": "editor"},
        name=lambda w, row: _member_name(w, row["user_id"]),
        count_sql="select count(*) from public.workspace_members "
        "where workspace_id = %(workspace_id)s and user_id = %(user_id)s and role <> 'editor'",
    ),
    "workspace_invitations": Target(
        filters=lambda w: {"workspace_id": w.workspace, "invitee_id": w.stranger.id},
        insert=lambda w: {
            "workspace_id": w.workspace,
            "invitee_id": _newcomer(w),
            "role": "viewer",
        },
        update={"role": "editor"},
        name=lambda w, row: _member_name(w, row["invitee_id"]),
        count_sql="select count(*) from public.workspace_invitations "
        "where workspace_id = %(workspace_id)s and invitee_id = %(invitee_id)s "
        "and role <> 'editor'",
    ),
}


def _delete_filters(table: str, w: World) -> dict[str, str]:
    if table == "workspace_members":
        return {"workspace_id": w.workspace, "user_id": w.editor.id}
    return TARGETS[table].filters(w)


def _untouched(db: psycopg.Connection, table: str, filters: dict[str, str]) -> int:
    row = db.execute(TARGETS[table].count_sql, filters).fetchone()
    assert row is not None
    return int(row[0])


def _present(db: psycopg.Connection, table: str, filters: dict[str, str]) -> int:
    where = " and ".join(f"{column} = %({column})s" for column in filters)
    row = db.execute(f"select count(*) from public.{table} where {where}", filters).fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def _token_refusal(code: str | None, message: str | None) -> str | None:
    """PostgREST 12 answers every bad token with PGRST301; the message tells which."""
    if code != "PGRST301":
        return None
    if message == "JWT expired":
        return EXPIRED
    if message and "JWSInvalidSignature" in message:
        return FORGED
    return None


def _refusal_over_http(response: httpx.Response) -> str:
    body = response.json()
    if response.status_code == 401 and (
        refusal := _token_refusal(body.get("code"), body.get("message"))
    ):
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        return refusal
    by_answer = {(401, "42501"): UNAUTHORIZED, (403, "42501"): RLS_DENIED}
    return by_answer.get((response.status_code, body.get("code")), f"{response.status_code} {body}")


def _refusal_from_supabase(error: APIError, actor: str) -> str:
    # supabase-py raises the PostgREST error body without the status; the code tells who
    # refused. 42501 means a privilege (anon) or a policy (signed-in user) refused.
    if error.code == "42501":
        return UNAUTHORIZED if actor == "anon" else RLS_DENIED
    return _token_refusal(error.code, error.message) or repr(error)


def _act_over_http(stack: LocalStack, w: World, table: str, verb: str, token: str | None) -> Any:
    target = TARGETS[table]
    with rest_client(stack, token) as http:
        if verb == "select":
            response = http.get(f"/{table}", params={"select": "*"})
        elif verb == "insert":
            response = http.post(
                f"/{table}", json=target.insert(w), headers={"Prefer": "return=minimal"}
            )
        else:
            filters = target.filters(w) if verb == "update" else _delete_filters(table, w)
            params = {column: f"eq.{value}" for column, value in filters.items()}
            prefer = {"Prefer": "return=representation"}
            if verb == "update":
                response = http.patch(
                    f"/{table}", params=params, json=target.update, headers=prefer
                )
            else:
                response = http.delete(f"/{table}", params=params, headers=prefer)
    if response.status_code >= 400:
        return _refusal_over_http(response)
    if verb == "select":
        assert response.status_code == 200
        return {target.name(w, row) for row in response.json()}
    if verb == "insert":
        assert response.status_code == 201
        return CREATED
    assert response.status_code == 200
    return len(response.json())


def _act_with_supabase(
    stack: LocalStack, w: World, table: str, verb: str, token: str | None, actor: str
) -> Any:
    target = TARGETS[table]
    query = supabase_client(stack, token).table(table)
    try:
        if verb == "select":
            return {target.name(w, row) for row in rows_of(query.select("*").execute())}
        if verb == "insert":
            query.insert(target.insert(w), returning="minimal").execute()  # type: ignore[arg-type]
            return CREATED
        filters = target.filters(w) if verb == "update" else _delete_filters(table, w)
        builder = query.update(target.update) if verb == "update" else query.delete()
        for column, value in filters.items():
            builder = builder.eq(column, value)
        return len(rows_of(builder.execute()))
    except APIError as error:
        return _refusal_from_supabase(error, actor)


def _check_effect(
    db: psycopg.Connection, w: World, table: str, verb: str, outcome: Any, before: int
) -> None:
    """The table must hold exactly what the answer claims."""
    if verb == "insert":
        rows = {
            "documents": (
                "select count(*) from public.documents where title = 'new' and workspace_id = %s",
                w.workspace,
            ),
            "document_chunks": (
                "select count(*) from public.document_chunks "
                "where document_id = %s and content = 'added'",
                w.shared_doc,
            ),
            "vector_store": (
                "select count(*) from public.vector_store v join public.documents d on d.id = v.id "
                "where d.content = 'new' and d.workspace_id = %s",
                w.workspace,
            ),
            "workspaces": (
                "select count(*) from public.workspaces w "
                "where name = 'another workspace' and created_by = any(%s::uuid[])",
                [u.id for u in w.users],
            ),
            "workspace_members": (
                "select count(*) from public.workspace_members "
                "where workspace_id = %s and user_id = %s",
                (w.workspace, w.stranger.id),
            ),
            "workspace_invitations": (
                "select count(*) from public.workspace_invitations "
                "where workspace_id = %s and invitee_id = %s",
                (w.workspace, _newcomer(w)),
            ),
        }[table]
        sql, arg = rows
        params = arg if isinstance(arg, tuple) else (arg,)
        row = db.execute(sql, params).fetchone()
        assert row is not None
        assert row[0] == (1 if outcome == CREATED else 0)
    elif verb == "update":
        after = _untouched(db, table, TARGETS[table].filters(w))
        changed = outcome if isinstance(outcome, int) else 0
        assert before - after == changed
    elif verb == "delete":
        after = _present(db, table, _delete_filters(table, w))
        removed = outcome if isinstance(outcome, int) else 0
        assert before - after == removed


def _link_vector_store(db: psycopg.Connection, w: World) -> None:
    """The world's documents as if LangChain had written them: a vector_store row each (ids only;
    the write-through trigger is skipped, the documents and chunks exist already)."""
    with db.transaction():
        db.execute("set local session_replication_role = replica")
        db.execute(
            "insert into public.vector_store (id) select unnest(%s::uuid[])",
            ([w.private_doc, w.shared_doc, w.stranger_doc],),
        )


def _before(db: psycopg.Connection, w: World, table: str, verb: str) -> int:
    if table == "vector_store":
        _link_vector_store(db, w)
    if table == "workspace_invitations":
        db.execute(
            "insert into public.workspace_invitations (workspace_id, invitee_id, invited_by) "
            "values (%s, %s, %s)",
            (w.workspace, w.stranger.id, w.owner.id),
        )
    if verb == "update":
        return _untouched(db, table, TARGETS[table].filters(w))
    if verb == "delete":
        return _present(db, table, _delete_filters(table, w))
    return 0


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("table", TABLES)
def test_raw_postgrest_http(
    stack: LocalStack, db: psycopg.Connection, table: str, verb: str, actor: str
) -> None:
    with world(stack, db) as w:
        before = _before(db, w, table, verb)
        outcome = _act_over_http(stack, w, table, verb, token_for(stack, w, actor))
        assert outcome == expected(table, verb, actor)
        _check_effect(db, w, table, verb, outcome, before)


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("table", TABLES)
def test_supabase_py(
    stack: LocalStack, db: psycopg.Connection, table: str, verb: str, actor: str
) -> None:
    with world(stack, db) as w:
        before = _before(db, w, table, verb)
        outcome = _act_with_supabase(stack, w, table, verb, token_for(stack, w, actor), actor)
        assert outcome == expected(table, verb, actor)
        _check_effect(db, w, table, verb, outcome, before)
