"""An agent changes only what it created, through every door.

A user lets an agent write (a `write` grant). The agent may add documents, and change or delete
those it created. It may not touch what the user wrote in their own session, what another agent
of theirs wrote, or what a colleague wrote in a workspace the user edits: before, it could empty
a person's document of its passages (`DELETE /document_chunks?document_id=eq.<id>`, leaving it
`ready` and unfindable), rewrite another agent's document (`PATCH /documents`), or replace its
passages (`rpc/replace_document_chunks`, since gone: the worker writes passages); only
`DELETE /documents` asked who created it.

Hypothesis draws the target (the user's, another agent's, a colleague's), the door and the
change; the target's row and passages must be exactly as they were. The control shows the same
changes land on the agent's own document.
"""

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer
from tests.hostile.conftest import McpAvailability
from tests.hostile.strategies import Request
from tests.hostile.support import examples, record, run_mcp, send
from tests.hostile.world import Actor, Tally
from tests.support import agent_token, insert_chunk, supabase_client, unit_vector

PWNED = "changed by an agent that did not write this"


@dataclass(frozen=True)
class Setting:
    agent: Actor  # the user's agent, with a write grant
    documents: dict[str, str]  # whose -> document id: "user", "other agent", "colleague", "own"


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    counts = Tally()
    yield counts
    record("agent ownership", counts.as_report())


@pytest.fixture(scope="module")
def setting(stack: LocalStack) -> Iterator[Setting]:
    user = stack.create_user(f"agent-owner-{secrets.token_hex(4)}@test.local")
    colleague = stack.create_user(f"agent-colleague-{secrets.token_hex(4)}@test.local")
    agent_client, other_client = str(uuid.uuid4()), str(uuid.uuid4())
    token = agent_token(stack, user, "write", client_id=agent_client)
    agent_token(stack, user, "write", client_id=other_client)
    rng = np.random.default_rng(23)
    try:
        with psycopg.connect(stack.db_url, autocommit=True) as db:
            workspace = db.execute(
                "insert into public.workspaces (name, created_by) values ('team', %s) "
                "returning id::text",
                (colleague.id,),
            ).fetchone()
            assert workspace is not None
            db.execute(
                "insert into public.workspace_members (workspace_id, user_id, role) "
                "values (%s, %s, 'editor')",
                (workspace[0], user.id),
            )

            def document(owner: User, in_workspace: bool, client: str | None) -> str:
                # Passages written here, not by the worker: no text for it to embed.
                row = db.execute(
                    "insert into public.documents (owner_id, workspace_id, title, "
                    "content_hash, embedding_model, created_by_client) "
                    "values (%s, %s, 'original', %s, 'test-model', %s) returning id::text",
                    (
                        owner.id,
                        workspace[0] if in_workspace else None,
                        secrets.token_hex(32),
                        client,
                    ),
                ).fetchone()
                assert row is not None
                insert_chunk(db, row[0], 0, "original text", unit_vector(rng))
                # LangChain's door reaches a document through its vector_store row.
                with db.transaction():
                    db.execute("set local session_replication_role = replica")
                    db.execute("insert into public.vector_store (id) values (%s)", (row[0],))
                return str(row[0])

            documents = {
                "user": document(user, False, None),
                "other agent": document(user, False, other_client),
                "colleague": document(colleague, True, None),
                "own": document(user, False, agent_client),
            }
        yield Setting(Actor("agent", "user", user, token, agent_client, "write"), documents)
    finally:
        stack.delete_user(user)
        stack.delete_user(colleague)
        with psycopg.connect(stack.db_url, autocommit=True) as db:
            db.execute("delete from public.workspaces where name = 'team' and created_by is null")


def state(db: psycopg.Connection, document: str) -> tuple[Any, ...]:
    row = db.execute(
        "select d.title, d.content, d.metadata::text, d.content_hash, d.workspace_id, "
        "       d.embedding_status, "
        "       (select array_agg(c.content || c.chunk_index::text order by c.chunk_index) "
        "          from public.document_chunks c where c.document_id = d.id) "
        "from public.documents d where d.id = %s",
        (document,),
    ).fetchone()
    return tuple(row) if row else ("gone",)


VECTOR = [0.05] * 384
REST_CHANGES: dict[str, Callable[[str], Request]] = {
    "rename": lambda d: Request("PATCH", "/documents", [("id", f"eq.{d}")], {"title": PWNED}),
    "new text": lambda d: Request("PATCH", "/documents", [("id", f"eq.{d}")], {"content": PWNED}),
    "metadata": lambda d: Request(
        "PATCH", "/documents", [("id", f"eq.{d}")], {"metadata": {"note": PWNED}}
    ),
    "delete": lambda d: Request("DELETE", "/documents", [("id", f"eq.{d}")]),
    "empty its passages": lambda d: Request(
        "DELETE", "/document_chunks", [("document_id", f"eq.{d}")]
    ),
    "rewrite a passage": lambda d: Request(
        "PATCH", "/document_chunks", [("document_id", f"eq.{d}")], {"content": PWNED}
    ),
    "add a passage": lambda d: Request(
        "POST",
        "/document_chunks",
        body={"document_id": d, "chunk_index": 7, "content": PWNED, "embedding": VECTOR},
    ),
    "vector_store upsert": lambda d: Request(
        "POST",
        "/vector_store",
        [("on_conflict", "id")],
        {"id": d, "content": PWNED, "embedding": VECTOR},
        {"Prefer": "resolution=merge-duplicates"},
    ),
    "vector_store update": lambda d: Request(
        "PATCH", "/vector_store", [("id", f"eq.{d}")], {"content": PWNED}
    ),
    "vector_store delete": lambda d: Request("DELETE", "/vector_store", [("id", f"eq.{d}")]),
}


def change(
    door: str,
    what: str,
    document: str,
    agent: Actor,
    rest: httpx.Client,
    stack: LocalStack,
    edge: TestClient,
    mcp: McpAvailability,
) -> str:
    """Make the change through one door; what it answered, as text."""
    if door == "postgrest":
        response = send(rest, agent, REST_CHANGES[what](document))
        return f"{response.status_code} {response.text[:200]}"
    if door == "supabase-py":
        table = supabase_client(stack, agent.token).table("documents")
        query = (
            table.delete().eq("id", document)
            if what == "delete"
            else table.update({"title": PWNED}).eq("id", document)
        )
        try:
            return json.dumps(query.execute().data)
        except Exception as error:  # the refusal, as supabase-py raises it
            return repr(error)
    if door == "api":
        body = {"content": PWNED} if what == "new text" else {"title": PWNED}
        answered = edge.request(
            "DELETE" if what == "delete" else "PATCH",
            f"/v1/documents/{document}",
            headers=bearer(agent.token),
            json=None if what == "delete" else body,
        )
        return f"{answered.status_code} {answered.text[:200]}"
    _, ok, text, _ = run_mcp(mcp.require(), agent, "delete_document", {"document_id": document})
    return f"{ok} {text[:200]}"


@st.composite
def attack(draw: st.DrawFn) -> tuple[str, str, str]:
    door = draw(st.sampled_from(["postgrest", "postgrest", "supabase-py", "api", "mcp"]))
    whose = draw(st.sampled_from(["user", "other agent", "colleague"]))
    if door == "postgrest":
        what = draw(st.sampled_from(sorted(REST_CHANGES)))
    elif door == "mcp":
        what = "delete"
    else:
        what = draw(st.sampled_from(["rename", "new text", "delete"]))
    return door, whose, what


@given(data=st.data())
@examples(60)
def test_an_agent_never_changes_what_it_did_not_create(
    setting: Setting,
    rest: httpx.Client,
    stack: LocalStack,
    edge: TestClient,
    mcp: McpAvailability,
    tally: Tally,
    data: st.DataObject,
) -> None:
    door, whose, what = data.draw(attack())
    target = setting.documents[whose]
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        before = state(db, target)
        answer = change(door, what, target, setting.agent, rest, stack, edge, mcp)
        after = state(db, target)
    found = [f"{door} {what} on the {whose}'s document: {answer}"] if after != before else []
    tally.count(door, f"{what} ({whose})", "answered", found)
    assert not found, (before, after)


@pytest.mark.parametrize("what", ["rename", "metadata", "rewrite a passage", "add a passage"])
def test_an_agent_changes_its_own_documents(
    setting: Setting, rest: httpx.Client, stack: LocalStack, what: str
) -> None:
    """The control: the same requests do change the document the agent created."""
    own = setting.documents["own"]
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        before = state(db, own)
        response = send(rest, setting.agent, REST_CHANGES[what](own))
        assert response.status_code < 300, response.text
        assert state(db, own) != before
