"""Agents (tokens with an OAuth client_id) are told apart in SQL: their documents record the
client, and an agent deletes only what it created."""

from collections.abc import Iterator

import psycopg
import pytest

from local_stack.stack import LocalStack, User
from tests.support import make_user, rest_client

WRITE = "knowledge:read knowledge:write"


@pytest.fixture
def person(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "agent-owner")
    yield user
    stack.delete_user(user)


def _create(stack: LocalStack, token: str, marker: str) -> str:
    with rest_client(stack, token) as http:
        response = http.post(
            "/documents",
            json={"title": marker, "content_hash": (marker * 64)[:64], "embedding_model": "m"},
            headers={"Prefer": "return=representation"},
        )
    assert response.status_code == 201, response.text
    return str(response.json()[0]["id"])


def test_documents_record_the_creating_client(
    stack: LocalStack, person: User, db: psycopg.Connection
) -> None:
    by_agent = _create(stack, stack.access_token(person, scope=WRITE, client_id="agent-a"), "a")
    by_person = _create(stack, stack.access_token(person), "b")
    rows: dict[str, str | None] = dict(
        db.execute(
            "select id::text, created_by_client from public.documents where id = any(%s::uuid[])",
            ([by_agent, by_person],),
        ).fetchall()
    )
    assert rows == {by_agent: "agent-a", by_person: None}


def test_client_id_cannot_be_forged_in_the_row(stack: LocalStack, person: User) -> None:
    with rest_client(stack, stack.access_token(person)) as http:
        response = http.post(
            "/documents",
            json={
                "title": "t",
                "content_hash": "c" * 64,
                "embedding_model": "m",
                "created_by_client": "someone-else",
            },
        )
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "42501"


def test_an_agent_deletes_only_what_it_created(
    stack: LocalStack, person: User, db: psycopg.Connection
) -> None:
    agent_a = stack.access_token(person, scope=WRITE, client_id="agent-a")
    agent_b = stack.access_token(person, scope=WRITE, client_id="agent-b")
    mine = _create(stack, agent_a, "d")
    persons = _create(stack, stack.access_token(person), "e")
    for token, target, deleted in [
        (agent_b, mine, 0),  # another agent: no
        (agent_a, persons, 0),  # the person's own document: no
        (agent_a, mine, 1),  # its own: yes
    ]:
        with rest_client(stack, token) as http:
            response = http.delete(
                "/documents",
                params={"id": f"eq.{target}"},
                headers={"Prefer": "return=representation"},
            )
        assert response.status_code == 200
        assert len(response.json()) == deleted
    # The person (no client_id) can still delete their own document.
    with rest_client(stack, stack.access_token(person)) as http:
        response = http.delete(
            "/documents",
            params={"id": f"eq.{persons}"},
            headers={"Prefer": "return=representation"},
        )
    assert len(response.json()) == 1
    remaining = db.execute(
        "select count(*) from public.documents where owner_id = %s", (person.id,)
    ).fetchone()
    assert remaining == (0,)
