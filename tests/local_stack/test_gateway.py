"""The gateway (Caddy with local_stack/Caddyfile) keeps Supabase's contract for /rest/v1.

Two views: the running stack's gateway in front of the real PostgREST, through supabase-py and
raw HTTP; and the same Caddyfile, started the way the stack starts it, in front of a recording
upstream, to see exactly what reaches PostgREST (the project key must not).
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import jwt
import pytest

from local_stack.processes import port_is_open, wait_until
from local_stack.settings import StackSettings, port_offset
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.support import rows_of, supabase_client


@pytest.fixture(scope="module")
def person(stack: LocalStack) -> Iterator[User]:
    user = stack.create_user("gateway-person@example.com")
    yield user
    stack.delete_user(user)


def _rest(stack: LocalStack) -> str:
    return f"{stack.settings.api_url}/rest/v1"


# -- the stack's gateway, in front of the real PostgREST --------------------------------------


def test_supabase_py_reads_through_the_gateway_with_the_anon_key(
    stack: LocalStack, person: User
) -> None:
    client = supabase_client(stack, stack.access_token(person))
    assert rows_of(client.table("documents").select("id").execute()) == []


@pytest.mark.parametrize("key_name", ["anon", "service_role"])
def test_either_project_key_opens_the_rest_api(stack: LocalStack, key_name: str) -> None:
    key = stack.anon_key if key_name == "anon" else stack.service_role_key
    # PostgREST's own OpenAPI description: it answers any role the key lets through.
    response = httpx.get(f"{_rest(stack)}/", headers={"apikey": key})
    assert response.status_code == 200, response.text
    assert response.headers["server"].startswith("postgrest")


def test_a_key_in_the_query_string_counts(stack: LocalStack, person: User) -> None:
    response = httpx.get(
        f"{_rest(stack)}/documents",
        params={"select": "id", "apikey": stack.anon_key},
        headers={"Authorization": f"Bearer {stack.access_token(person)}"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == []


@pytest.mark.parametrize(
    ("headers", "params", "message"),
    [
        ({}, {}, "No API key found in request"),
        ({"apikey": "not-a-key"}, {}, "Invalid API key"),
        ({}, {"apikey": "not-a-key"}, "Invalid API key"),
        # The header wins over the query string, as with Kong's key-auth.
        ({"apikey": "not-a-key"}, {"apikey": "ANON"}, "Invalid API key"),
    ],
    ids=["no key", "wrong key", "wrong key in query", "wrong header, good query"],
)
def test_a_missing_or_unknown_key_is_a_json_401(
    stack: LocalStack, headers: dict[str, str], params: dict[str, str], message: str
) -> None:
    params = {k: (stack.anon_key if v == "ANON" else v) for k, v in params.items()}
    response = httpx.get(f"{_rest(stack)}/documents", headers=headers, params=params)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"message": message}


def test_a_user_token_is_not_a_project_key(stack: LocalStack, person: User) -> None:
    response = httpx.get(
        f"{_rest(stack)}/documents", headers={"apikey": stack.access_token(person)}
    )
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid API key"}


def test_cors_preflight_answers_as_supabase_does(stack: LocalStack) -> None:
    asked = "authorization, apikey, content-type, x-client-info"
    response = httpx.options(
        f"{_rest(stack)}/rpc/match_documents",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-headers"] == asked
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


def test_cors_headers_on_proxied_and_refused_answers(stack: LocalStack) -> None:
    origin = {"Origin": "https://app.example.com"}
    proxied = httpx.get(
        f"{_rest(stack)}/workspaces?select=id", headers={**origin, "apikey": stack.anon_key}
    )
    refused = httpx.get(f"{_rest(stack)}/workspaces", headers=origin)
    for response in (proxied, refused):
        assert response.headers.get_list("access-control-allow-origin") == ["*"]
    assert "Content-Range" in proxied.headers["access-control-expose-headers"]


def test_the_jwks_is_public_and_verifies_the_stacks_tokens(stack: LocalStack, person: User) -> None:
    response = httpx.get(f"{stack.settings.api_url}/auth/v1/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == stack.secrets.jwks()
    token = stack.access_token(person, algorithm="ES256")
    key = jwt.PyJWKSet.from_dict(response.json())[stack.secrets.signing_key_id]
    claims = jwt.decode(token, key, algorithms=["ES256"], audience="authenticated")
    assert claims["sub"] == person.id


@pytest.mark.parametrize("path", ["/", "/auth/v1/token", "/rest/v1x/documents", "/storage/v1/"])
def test_other_paths_are_a_json_404(stack: LocalStack, path: str) -> None:
    response = httpx.get(f"{stack.settings.api_url}{path}", headers={"apikey": stack.anon_key})
    assert response.status_code == 404
    assert response.json() == {"message": "no Route matched with those values"}


# -- the same Caddyfile in front of a recording upstream --------------------------------------


class Recorder(BaseHTTPRequestHandler):
    """An upstream that answers 200 and remembers what reached it."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": self.rfile.read(length),
            }
        )
        body = b'[{"ok": true}]'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_DELETE = _record

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def recorder() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def gateway(
    recorder: ThreadingHTTPServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """Only the gateway of a stack whose "PostgREST" is the recorder, started as kb-stack does."""
    state: Path = tmp_path_factory.mktemp("gateway-stack")
    settings = StackSettings(
        state_dir=state, api_port=25451 + port_offset(), rest_port=recorder.server_port
    )
    stack = LocalStack(settings)
    daemon = stack.gateway.daemon()
    daemon.start()
    wait_until(
        lambda: port_is_open(settings.host, settings.api_port),
        timeout=30,
        what="gateway",
        log=daemon.log_file,
    )
    yield stack
    daemon.stop()


def test_the_project_key_stops_at_the_gateway(
    gateway: LocalStack, recorder: ThreadingHTTPServer
) -> None:
    Recorder.seen.clear()
    body = json.dumps({"query_embedding": [0.1, 0.2], "match_count": 3}).encode()
    sent_queries = []
    for where in ("header", "query"):
        headers = {
            "Authorization": "Bearer the-callers-own-token",
            "Content-Type": "application/json",
            "Prefer": "return=representation",
            "X-Request-Id": f"req-{where}",
        }
        params = {"select": "id,content", "limit": "3"}
        if where == "header":
            headers["apikey"] = gateway.anon_key
        else:
            params["apikey"] = gateway.service_role_key
        response = httpx.post(
            f"{gateway.settings.api_url}/rest/v1/rpc/match_documents",
            headers=headers,
            params=params,
            content=body,
        )
        assert response.status_code == 200, response.text
        sent_queries.append(response.request.url.query.decode())
    assert len(Recorder.seen) == 2
    # With the key in a header, the query string reaches PostgREST byte for byte as sent.
    assert Recorder.seen[0]["path"] == f"/rpc/match_documents?{sent_queries[0]}"
    for request, where in zip(Recorder.seen, ("header", "query"), strict=True):
        assert request["method"] == "POST"
        path, _, query = request["path"].partition("?")
        assert path == "/rpc/match_documents"
        assert parse_qs(query) == {"select": ["id,content"], "limit": ["3"]}
        assert "apikey" not in request["headers"]
        assert request["headers"]["authorization"] == "Bearer the-callers-own-token"
        assert request["headers"]["prefer"] == "return=representation"
        assert request["headers"]["x-request-id"] == f"req-{where}"
        assert request["body"] == body


def test_a_refused_request_never_reaches_upstream(
    gateway: LocalStack, recorder: ThreadingHTTPServer
) -> None:
    Recorder.seen.clear()
    for headers in ({}, {"apikey": "not-a-key"}):
        response = httpx.delete(f"{gateway.settings.api_url}/rest/v1/documents", headers=headers)
        assert response.status_code == 401
    assert Recorder.seen == []


def test_upstream_down_is_a_json_503(tmp_path: Path) -> None:
    down = LocalStack(
        StackSettings(
            state_dir=tmp_path,
            api_port=25452 + port_offset(),
            rest_port=25453 + port_offset(),  # nothing there
        )
    )
    daemon = down.gateway.daemon()
    daemon.start()
    try:
        wait_until(
            lambda: port_is_open(down.settings.host, down.settings.api_port),
            timeout=30,
            what="gateway",
            log=daemon.log_file,
        )
        response = httpx.get(
            f"{down.settings.api_url}/rest/v1/documents", headers={"apikey": down.anon_key}
        )
    finally:
        daemon.stop()
    assert response.status_code == 503
    assert response.json() == {"message": "PostgREST is unavailable"}
