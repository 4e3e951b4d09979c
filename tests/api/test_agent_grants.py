"""/v1/agent-grants: a user lets an agent read or write, changes it and revokes it through the
API, and the agent's token (Supabase Auth's OAuth shape) follows at once through the API's own
doors. Only the user's own session manages grants."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer
from tests.support import make_user


@pytest.fixture
def person(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "grants")
    yield user
    stack.delete_user(user)


def _add(api: TestClient, token: str, title: str) -> int:
    response = api.post(
        "/v1/documents",
        headers=bearer(token),
        json={"title": title, "content": f"{title}: a note about the harbour's tide tables."},
    )
    return response.status_code


def _titles(api: TestClient, token: str) -> set[str]:
    response = api.get("/v1/documents", headers=bearer(token))
    assert response.status_code == 200, response.text
    return {d["title"] for d in response.json()["items"]}


def test_a_user_grants_changes_and_revokes_an_agent_through_the_api(
    api: TestClient, stack: LocalStack, person: User
) -> None:
    session = stack.access_token(person)
    assert _add(api, session, "the person's note") == 201
    client = str(uuid.uuid4())
    agent = stack.access_token(person, client_id=client)  # "openid email", client_id

    assert _titles(api, agent) == set()
    assert _add(api, agent, "too early") == 403

    granted = api.put(
        f"/v1/agent-grants/{client}",
        headers=bearer(session),
        json={"access": "read", "client_name": "Harbour bot"},
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["access"] == "read" and granted.json()["client_name"] == "Harbour bot"
    assert _titles(api, agent) == {"the person's note"}
    assert _add(api, agent, "read only") == 403

    changed = api.put(
        f"/v1/agent-grants/{client}", headers=bearer(session), json={"access": "write"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["client_name"] == "Harbour bot"  # kept: not sent again
    assert _add(api, agent, "by the agent") == 201
    assert _titles(api, agent) == {"the person's note", "by the agent"}

    listed = api.get("/v1/agent-grants", headers=bearer(session))
    assert [(g["client_id"], g["access"]) for g in listed.json()] == [(client, "write")]

    assert api.delete(f"/v1/agent-grants/{client}", headers=bearer(session)).status_code == 204
    assert _titles(api, agent) == set()
    assert _add(api, agent, "after revocation") == 403
    again = api.delete(f"/v1/agent-grants/{client}", headers=bearer(session))
    assert again.status_code == 404


def test_an_agent_cannot_grant_itself_through_the_api(
    api: TestClient, stack: LocalStack, person: User
) -> None:
    client = str(uuid.uuid4())
    stack.grant_agent(person, client, "read")
    agent = stack.access_token(person, client_id=client)
    for target in (client, str(uuid.uuid4())):
        refused = api.put(
            f"/v1/agent-grants/{target}", headers=bearer(agent), json={"access": "write"}
        )
        assert refused.status_code == 403, refused.text
        assert "only your own session" in refused.json()["error"]["message"]
    assert api.delete(f"/v1/agent-grants/{client}", headers=bearer(agent)).status_code == 404
    # It sees its own grant, unchanged, and still only reads.
    own = api.get("/v1/agent-grants", headers=bearer(agent))
    assert [(g["client_id"], g["access"]) for g in own.json()] == [(client, "read")]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/agent-grants/not-a-uuid", {"access": "read"}, "path.client_id"),
        (f"/v1/agent-grants/{uuid.uuid4()}", {"access": "admin"}, "body.access"),
        (f"/v1/agent-grants/{uuid.uuid4()}", {}, "body.access"),
        (
            f"/v1/agent-grants/{uuid.uuid4()}",
            {"access": "read", "client_name": ""},
            "body.client_name",
        ),
    ],
)
def test_bad_grants_are_refused_naming_the_field(
    api: TestClient, stack: LocalStack, person: User, path: str, body: dict[str, str], field: str
) -> None:
    response = api.put(path, headers=bearer(stack.access_token(person)), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
