"""Bad tokens on every door: each kind is refused with 401 by raw PostgREST, supabase-py, the API
and the MCP server over streamable HTTP.

A refusal on one door and not another would be a way in: the edge checks tokens early to refuse
cheaply, but PostgREST and the database's pre-request hook must refuse the same tokens for
clients that skip the edge. Each door is first shown to open for a good token, so a 401 means
the token was judged, not that the door is broken. The minting helpers are tests/api's.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from postgrest.exceptions import APIError

from knowledge_mcp.auth import SupabaseTokenVerifier
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.api.conftest import bearer
from tests.api.test_auth import BAD_TOKENS, claims_of, resign
from tests.hostile.support import McpDoor, record, recording_supabase
from tests.support import make_user, rest_client

DOORS = ["postgrest", "supabase-py", "api", "mcp"]
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}

# The kinds the issue names, plus two more forgeries of tests/api's. Not tests/api's "unknown
# kid": it is signed with the project's real key under a wrong key id, which the edge refuses
# (it looks keys up by kid) and PostgREST accepts (it tries every key of its JWKS): authentic
# either way, so not a bad token for every door.
CASES: dict[str, Callable[[LocalStack, User], str]] = {
    "expired": BAD_TOKENS["expired"],
    "not yet valid (nbf in the future)": lambda s, u: resign(
        s, u, lambda c: c.update(nbf=int(time.time()) + 3600)
    ),
    "forged": BAD_TOKENS["forged"],
    "alg none": BAD_TOKENS["alg none"],
    "HS256 keyed with the public key": BAD_TOKENS["HS256 keyed with the public key"],
    "missing audience": BAD_TOKENS["missing audience"],
    "wrong audience": BAD_TOKENS["wrong audience"],
    "wrong issuer": BAD_TOKENS["wrong issuer"],
    "ES256 by a key not in the JWKS": BAD_TOKENS["ES256 by a key not in the JWKS"],
    "not a JWT": BAD_TOKENS["not a JWT"],
}


@dataclass
class Doors:
    """How to knock on each door with a token; each answer is the HTTP status it got."""

    stack: LocalStack
    edge: TestClient
    mcp: McpDoor

    def knock(self, door: str, token: str) -> int:
        if door == "postgrest":
            with rest_client(self.stack, token) as http:
                return http.get("/documents", params={"select": "id"}).status_code
        if door == "supabase-py":
            client, statuses = recording_supabase(self.stack, token)
            with contextlib.suppress(APIError):  # the refusal; its status is what counts
                client.table("documents").select("id").execute()
            return statuses[-1]
        if door == "api":
            return self.edge.get("/v1/documents", headers=bearer(token)).status_code
        return self.mcp.post(LIST_TOOLS, token=token).status_code


@pytest.fixture(scope="module")
def doors(stack: LocalStack, edge: TestClient, mcp: McpDoor) -> Doors:
    return Doors(stack, edge, mcp)


@pytest.fixture(scope="module")
def user(stack: LocalStack) -> Iterator[User]:
    person = make_user(stack, "hostile-tokens")
    yield person
    stack.delete_user(person)


@pytest.fixture(scope="module")
def matrix() -> Iterator[dict[str, dict[str, Any]]]:
    """case -> door -> status, written to the report when the module ends."""
    seen: dict[str, dict[str, Any]] = {}
    yield seen
    cells = [status for row in seen.values() for status in row.values()]
    record(
        "tokens",
        {
            "cases": len(seen),
            "doors": DOORS,
            "cells": len(cells),
            "refused_401": sum(1 for s in cells if s == 401),
            "refused_other": {
                f"{case} @ {door}": status
                for case, row in seen.items()
                for door, status in row.items()
                if status != 401
            },
            "matrix": seen,
        },
    )


@pytest.mark.parametrize("door", DOORS)
def test_a_good_token_opens_every_door(
    doors: Doors, stack: LocalStack, user: User, door: str
) -> None:
    assert doors.knock(door, stack.access_token(user)) == 200


def _cells() -> list[Any]:
    cells = []
    for case in CASES:
        for door in DOORS:
            cells.append(pytest.param(case, door, id=f"{case}-{door}"))
    return cells


@pytest.mark.parametrize(("case", "door"), _cells())
def test_bad_tokens_are_refused_on_every_door(
    doors: Doors,
    stack: LocalStack,
    user: User,
    matrix: dict[str, dict[str, Any]],
    case: str,
    door: str,
) -> None:
    token = CASES[case](stack, user)
    status = doors.knock(door, token)
    matrix.setdefault(case, {})[door] = status
    assert status == 401


@pytest.mark.parametrize("door", DOORS)
def test_a_token_in_the_query_string_never_authenticates(
    doors: Doors,
    stack: LocalStack,
    user: User,
    matrix: dict[str, dict[str, Any]],
    door: str,
) -> None:
    """Tokens belong in the Authorization header; in a URL they end up in logs and caches.

    `?apikey=<user token>` is refused with 401 everywhere (the gateway takes `apikey` as a
    project key, and a user token is not one). `?access_token=` is 401 at the API and the MCP
    server; PostgREST reads any unknown parameter as a column filter, so it answers 400
    (PGRST100) before authentication matters. Either way nothing is served.
    """
    token = stack.access_token(user)
    statuses: dict[str, int] = {}
    for name in ("access_token", "apikey"):
        if door == "postgrest":
            base = f"{stack.settings.api_url}/rest/v1"
            headers = {} if name == "apikey" else {"apikey": stack.anon_key}
            response = httpx.get(f"{base}/documents", params={name: token}, headers=headers)
            assert response.status_code == (401 if name == "apikey" else 400), response.text
            if response.status_code == 400:
                assert response.json()["code"] == "PGRST100"
            statuses[name] = response.status_code
        elif door == "supabase-py":
            client, seen = recording_supabase(stack, None)
            client.postgrest.session.params = httpx.QueryParams({name: token})
            with pytest.raises(APIError):
                client.table("documents").select("id").execute()
            statuses[name] = seen[-1]
            assert seen[-1] == (401 if name == "apikey" else 400)
        elif door == "api":
            answer = doors.edge.get("/v1/documents", params={name: token})
            statuses[name] = answer.status_code
            assert answer.status_code == 401
        else:
            response = doors.mcp.post(LIST_TOOLS, params={name: token})
            statuses[name] = response.status_code
            assert response.status_code == 401
    for name, status in statuses.items():
        matrix.setdefault(f"token in the query string (?{name}=)", {})[door] = status


def _revoke(db: psycopg.Connection, token: str) -> None:
    """Sign out: Supabase Auth deletes the session row; the token itself stays unexpired."""
    db.execute("delete from auth.sessions where id = %s", (claims_of(token)["session_id"],))


@pytest.mark.parametrize("door", DOORS)
def test_a_revoked_session_is_refused_with_401(
    doors: Doors,
    stack: LocalStack,
    user: User,
    db: psycopg.Connection,
    matrix: dict[str, dict[str, Any]],
    door: str,
) -> None:
    token = stack.access_token(user)
    assert doors.knock(door, token) == 200
    _revoke(db, token)
    if door == "mcp":
        # The MCP server asks the database about a token's session at most once per
        # SESSION_CHECK_SECONDS (every JSON-RPC message is a request); past that, it must know.
        time.sleep(SupabaseTokenVerifier.SESSION_CHECK_SECONDS + 0.5)
    status = doors.knock(door, token)
    matrix.setdefault("revoked session", {})[door] = status
    assert status == 401
