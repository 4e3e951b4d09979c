"""Agents (tokens of an OAuth client: a `client_id` claim and OIDC scopes, as Supabase Auth's
OAuth server issues them) act on their user's grant in public.agent_grants, through PostgREST as
supabase-js calls it. Their documents record the client, and an agent deletes only what it
created. (The same through the API and MCP: tests/api/test_agent_grants.py,
tests/mcp/test_http.py.)"""

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import jwt
import psycopg
import pytest

from local_stack.stack import LocalStack, User
from tests.support import agent_token, make_user, rest_client


@pytest.fixture
def person(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "agent-owner")
    yield user
    stack.delete_user(user)


@pytest.fixture
def other(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "agent-other")
    yield user
    stack.delete_user(user)


def _create(stack: LocalStack, token: str, marker: str) -> httpx.Response:
    with rest_client(stack, token) as http:
        return http.post(
            "/documents",
            json={
                "title": marker,
                "content_hash": hashlib.sha256(marker.encode()).hexdigest(),
                "embedding_model": "test-model",
            },
            headers={"Prefer": "return=representation"},
        )


def _created(stack: LocalStack, token: str, marker: str) -> str:
    response = _create(stack, token, marker)
    assert response.status_code == 201, response.text
    return str(response.json()[0]["id"])


def _titles(stack: LocalStack, token: str) -> set[str]:
    with rest_client(stack, token) as http:
        response = http.get("/documents", params={"select": "title"})
    assert response.status_code == 200, response.text
    return {row["title"] for row in response.json()}


def _grant(stack: LocalStack, session: str, client: str, access: str) -> httpx.Response:
    """What the consent page sends: supabase-js's upsert, with the user's own token."""
    with rest_client(stack, session) as http:
        return http.post(
            "/agent_grants",
            params={"on_conflict": "user_id,client_id"},
            json={"client_id": client, "access": access, "client_name": "Test agent"},
            headers={"Prefer": "resolution=merge-duplicates,return=representation"},
        )


def test_an_agents_token_is_shaped_like_supabase_auths(stack: LocalStack, person: User) -> None:
    claims = jwt.decode(agent_token(stack, person, None), options={"verify_signature": False})
    assert claims["scope"] == "openid email"
    assert str(uuid.UUID(claims["client_id"])) == claims["client_id"]
    assert (claims["aud"], claims["role"]) == ("authenticated", "authenticated")


def test_an_agent_reads_nothing_until_granted_then_as_granted_until_revoked(
    stack: LocalStack, person: User
) -> None:
    session = stack.access_token(person)
    _created(stack, session, "mine")
    client = str(uuid.uuid4())
    agent = stack.access_token(person, client_id=client)

    # No grant: nothing to read, nothing to write.
    assert _titles(stack, agent) == set()
    assert _create(stack, agent, "by-agent").status_code == 403

    # read: it reads what its user reads, and still writes nothing.
    assert _grant(stack, session, client, "read").status_code == 201
    assert _titles(stack, agent) == {"mine"}
    assert _create(stack, agent, "by-agent").status_code == 403

    # write: it writes too (the same token: the grant is read on every statement).
    changed = _grant(stack, session, client, "write")
    assert changed.status_code in (200, 201), changed.text
    assert changed.json()[0]["access"] == "write"
    _created(stack, agent, "by-agent")
    assert _titles(stack, agent) == {"mine", "by-agent"}

    # Revoked: nothing, at once.
    with rest_client(stack, session) as http:
        revoked = http.delete("/agent_grants", params={"client_id": f"eq.{client}"})
    assert revoked.status_code == 204, revoked.text
    assert _titles(stack, agent) == set()
    assert _create(stack, agent, "again").status_code == 403


def test_another_users_grant_never_opens_my_data(
    stack: LocalStack, person: User, other: User
) -> None:
    """`other` let the client write; `person` did not: the client's token for `person` gets
    nothing of person's, and its token for `other` nothing of person's either."""
    _created(stack, stack.access_token(person), "person's")
    _created(stack, stack.access_token(other), "other's")
    client = str(uuid.uuid4())
    for_other = agent_token(stack, other, "write", client_id=client)
    for_person = stack.access_token(person, client_id=client)
    assert _titles(stack, for_other) == {"other's"}
    assert _titles(stack, for_person) == set()
    assert _create(stack, for_person, "into person's").status_code == 403


def test_an_agent_can_never_grant_itself_or_see_other_grants(
    stack: LocalStack, person: User
) -> None:
    client, another = str(uuid.uuid4()), str(uuid.uuid4())
    session = stack.access_token(person)
    assert _grant(stack, session, another, "read").status_code == 201
    reader = agent_token(stack, person, "read", client_id=client)
    # Neither a new grant, nor more for itself, nor its grant deleted or moved.
    assert _grant(stack, reader, client, "write").status_code == 403
    assert _grant(stack, reader, str(uuid.uuid4()), "write").status_code == 403
    with rest_client(stack, reader) as http:
        assert http.patch(
            "/agent_grants", params={"client_id": f"eq.{client}"}, json={"access": "write"}
        ).status_code in (204, 403)
        visible = http.get("/agent_grants", params={"select": "client_id,access"}).json()
        deleted = http.delete(
            "/agent_grants",
            params={"client_id": f"eq.{another}"},
            headers={"Prefer": "return=representation"},
        )
    # It sees its own grant only (to tell its user what it may do), unchanged.
    assert visible == [{"client_id": client, "access": "read"}]
    assert deleted.json() == []
    with rest_client(stack, session) as http:
        mine = http.get("/agent_grants", params={"select": "client_id,access"}).json()
    assert sorted((g["client_id"], g["access"]) for g in mine) == sorted(
        [(client, "read"), (another, "read")]
    )


def test_a_grant_is_its_users_alone(stack: LocalStack, person: User, other: User) -> None:
    """A user cannot record a grant in another user's name, nor see or revoke theirs."""
    client = str(uuid.uuid4())
    stack.grant_agent(other, client, "read")
    with rest_client(stack, stack.access_token(person)) as http:
        forged = http.post(
            "/agent_grants", json={"user_id": other.id, "client_id": client, "access": "write"}
        )
        seen = http.get("/agent_grants", params={"client_id": f"eq.{client}"}).json()
        deleted = http.delete(
            "/agent_grants",
            params={"client_id": f"eq.{client}"},
            headers={"Prefer": "return=representation"},
        )
    assert forged.status_code == 403
    assert seen == [] and deleted.json() == []


def test_documents_record_the_creating_client(
    stack: LocalStack, person: User, db: psycopg.Connection
) -> None:
    client = str(uuid.uuid4())
    by_agent = _created(stack, agent_token(stack, person, "write", client_id=client), "a")
    by_person = _created(stack, stack.access_token(person), "b")
    rows: dict[str, str | None] = dict(
        db.execute(
            "select id::text, created_by_client from public.documents where id = any(%s::uuid[])",
            ([by_agent, by_person],),
        ).fetchall()
    )
    assert rows == {by_agent: client, by_person: None}


def test_client_id_cannot_be_forged_in_the_row(stack: LocalStack, person: User) -> None:
    with rest_client(stack, stack.access_token(person)) as http:
        response = http.post(
            "/documents",
            json={
                "title": "t",
                "content_hash": "c" * 64,
                "embedding_model": "test-model",
                "created_by_client": "someone-else",
            },
        )
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "42501"


def test_an_agent_deletes_only_what_it_created(
    stack: LocalStack, person: User, db: psycopg.Connection
) -> None:
    agent_a = agent_token(stack, person, "write")
    agent_b = agent_token(stack, person, "write")
    mine = _created(stack, agent_a, "d")
    persons = _created(stack, stack.access_token(person), "e")
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


def test_knowledge_scopes_open_nothing_unless_the_project_says_they_are_issued(
    stack: LocalStack, person: User, db: psycopg.Connection
) -> None:
    """Supabase Auth never issues knowledge:* scopes: a token claiming them (signed with the
    project's key) is an agent without a grant, unless private.token_settings says an
    authorization server that issues them is configured."""
    _created(stack, stack.access_token(person), "scoped")
    claiming = stack.access_token(person, client_id=str(uuid.uuid4()), scope="knowledge:read")
    assert _titles(stack, claiming) == set()
    db.execute("update private.token_settings set knowledge_scopes = true")
    try:
        assert _titles(stack, claiming) == {"scoped"}
        assert _create(stack, claiming, "read-only").status_code == 403
        writer = stack.access_token(person, client_id=str(uuid.uuid4()), scope="knowledge:write")
        _created(stack, writer, "by-scope")
        # Scopes other than knowledge:* still need a grant.
        assert _titles(stack, agent_token(stack, person, None)) == set()
    finally:
        db.execute("update private.token_settings set knowledge_scopes = false")
    assert _titles(stack, claiming) == set()
