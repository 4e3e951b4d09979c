"""Ids a caller may not see answer exactly as ids that do not exist.

An attacker who can tell "no such document" from "someone else's document" learns which ids
exist, and with them whose knowledge is where. Each write or read that takes an id is sent twice
by a stranger, once with another tenant's real id and once with a fresh one, through every door
that takes it; the two answers must be the same (status, code and message, the id itself aside).
Before, a passage for a missing document answered 409 "does not exist" and one for another's
document 403, and a workspace made with another's id answered 409 where a free id answered 201.
"""

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack
from tests.api.conftest import bearer
from tests.hostile.conftest import McpAvailability
from tests.hostile.strategies import Request
from tests.hostile.support import run_mcp, send
from tests.hostile.world import Actor

VECTOR = [0.05] * 384


@dataclass(frozen=True)
class Secrets:
    stranger: Actor
    document: str  # another tenant's
    workspace: str  # another tenant's


@pytest.fixture(scope="module")
def hidden(stack: LocalStack) -> Iterator[Secrets]:
    owner = stack.create_user(f"oracle-owner-{secrets.token_hex(4)}@test.local")
    stranger = stack.create_user(f"oracle-stranger-{secrets.token_hex(4)}@test.local")
    try:
        with psycopg.connect(stack.db_url, autocommit=True) as db:
            workspace = db.execute(
                "insert into public.workspaces (name, created_by) values ('theirs', %s) "
                "returning id::text",
                (owner.id,),
            ).fetchone()
            document = db.execute(
                "insert into public.documents (owner_id, workspace_id, title, content) "
                "values (%s, %s, 'theirs', 'their text') returning id::text",
                (owner.id, workspace[0] if workspace else None),
            ).fetchone()
        assert workspace is not None and document is not None
        actor = Actor("stranger", "stranger", stranger, stack.access_token(stranger))
        yield Secrets(actor, document[0], workspace[0])
    finally:
        stack.delete_user(owner)
        stack.delete_user(stranger)


def _normalised(answer: tuple[int, Any], ids: list[str]) -> tuple[int, str]:
    status, body = answer
    text = str(body)
    for an_id in ids:
        text = text.replace(an_id, "<id>")
    return status, text


def _rest(rest: httpx.Client, actor: Actor, request: Request) -> tuple[int, Any]:
    response = send(rest, actor, request)
    return response.status_code, response.text


CASES: dict[str, Callable[..., Request]] = {
    "passage for a document": lambda doc, ws: Request(
        "POST",
        "/document_chunks",
        body={"document_id": doc, "chunk_index": 9, "content": "x", "embedding": VECTOR},
    ),
    "document into a workspace": lambda doc, ws: Request(
        "POST", "/documents", body={"title": "x", "content": "mine", "workspace_id": ws}
    ),
    "workspace with a chosen id": lambda doc, ws: Request(
        "POST", "/workspaces", body={"id": ws, "name": "mine"}
    ),
    "change a document": lambda doc, ws: Request(
        "PATCH",
        "/documents",
        [("id", f"eq.{doc}")],
        {"title": "mine"},
        {"Prefer": "return=representation"},
    ),
    "delete a document": lambda doc, ws: Request(
        "DELETE", "/documents", [("id", f"eq.{doc}")], headers={"Prefer": "return=representation"}
    ),
    "read a document": lambda doc, ws: Request("GET", "/documents", [("id", f"eq.{doc}")]),
    "ingest into a workspace": lambda doc, ws: Request(
        "POST", "/rpc/ingest_document", body={"title": "x", "content": "mine", "workspace_id": ws}
    ),
    "invite into a workspace": lambda doc, ws: Request(
        "POST",
        "/workspace_invitations",
        body={"workspace_id": ws, "invitee_id": str(uuid.uuid4())},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_postgrest_answers_a_hidden_id_as_a_missing_one(
    case: str, hidden: Secrets, rest: httpx.Client
) -> None:
    fresh_doc, fresh_ws = str(uuid.uuid4()), str(uuid.uuid4())
    ids = [hidden.document, hidden.workspace, fresh_doc, fresh_ws]
    theirs = _rest(rest, hidden.stranger, CASES[case](hidden.document, hidden.workspace))
    missing = _rest(rest, hidden.stranger, CASES[case](fresh_doc, fresh_ws))
    assert _normalised(theirs, ids) == _normalised(missing, ids)
    assert theirs[0] < 500, theirs


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_the_api_answers_a_hidden_id_as_a_missing_one(
    method: str, hidden: Secrets, edge: TestClient
) -> None:
    def call(document: str) -> tuple[int, Any]:
        body = {"title": "mine"} if method == "PATCH" else None
        response = edge.request(
            method,
            f"/v1/documents/{document}",
            headers=bearer(hidden.stranger.token),
            json=body,
        )
        answer = response.json()
        answer.get("error", {}).pop("request_id", None)  # differs for every request
        return response.status_code, answer

    fresh = str(uuid.uuid4())
    ids = [hidden.document, fresh]
    assert _normalised(call(hidden.document), ids) == _normalised(call(fresh), ids)


def test_mcp_answers_a_hidden_id_as_a_missing_one(hidden: Secrets, mcp: McpAvailability) -> None:
    door = mcp.require()
    fresh = str(uuid.uuid4())
    answers = [
        run_mcp(door, hidden.stranger, "get_document", {"document_id": document})[:3]
        for document in (hidden.document, fresh)
    ]
    ids = [hidden.document, fresh]
    theirs, missing = ((status, ok, text) for status, ok, text in answers)
    assert _normalised((0, theirs), ids) == _normalised((0, missing), ids)
