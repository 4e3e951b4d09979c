"""The PostgREST client's HTTP behaviour, against a real HTTP server on loopback.

What PostgREST itself answers is tested against the running stack (tests/api); here: what one
shared connection pool must never do between callers, and answers a gateway may send.
"""

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from knowledge_core.errors import Conflict, Unavailable
from knowledge_core.rest import LastWrites, RestPool
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller


class Upstream(BaseHTTPRequestHandler):
    """Answers by path: sets a cookie, compresses, conflicts, or fails like a gateway."""

    cookies_seen: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.cookies_seen.append(self.headers.get("Cookie"))
        if self.path.startswith("/rest/v1/rpc/conflict"):
            self._send(409, json.dumps({"code": "23505", "message": "duplicate"}).encode())
        elif self.path.startswith("/rest/v1/rpc/down"):
            self._send(502, b"<html>bad gateway</html>", content_type="text/html")
        elif self.path.startswith("/rest/v1/rpc/gzip"):
            self._send(200, gzip.compress(b'[{"ok": true}]'), encoding="gzip")
        else:
            self._send(200, b'[{"ok": true}]', cookie="session=for-the-first-caller")

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        encoding: str | None = None,
        cookie: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        if cookie:
            self.send_header("Set-Cookie", f"{cookie}; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # A host name, not 127.0.0.1: aiohttp's default cookie jar ignores cookies from bare IPs, so
    # with an IP the cookie test could not fail.
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()


def _caller(name: str) -> Caller:
    return Caller(token=f"token-of-{name}", claims={"sub": name})


def _call(url: str, *functions: str) -> list[Any]:
    """Call each RPC in turn, as alternating callers, through one pool."""

    async def scenario() -> list[Any]:
        pool = RestPool(Settings(supabase_url=url, supabase_anon_key="anon-key"))  # type: ignore[arg-type]
        results: list[Any] = []
        try:
            for i, function in enumerate(functions):
                rest = pool.bind(_caller("alice" if i % 2 == 0 else "bob"))
                try:
                    results.append(await rest.rpc(function, {"n": i}))
                except Exception as error:  # the test looks at which error it was
                    results.append(error)
        finally:
            await pool.aclose()
        return results

    return asyncio.run(scenario())


def test_a_cookie_set_for_one_caller_never_reaches_another(upstream: str) -> None:
    Upstream.cookies_seen.clear()
    assert _call(upstream, "first", "second", "third") == [[{"ok": True}]] * 3
    assert Upstream.cookies_seen == [None, None, None]


def test_a_compressed_answer_is_read(upstream: str) -> None:
    assert _call(upstream, "gzip") == [[{"ok": True}]]


def test_postgrest_errors_and_gateway_failures_keep_their_meaning(upstream: str) -> None:
    conflict, down = _call(upstream, "conflict", "down")
    assert isinstance(conflict, Conflict)
    assert conflict.upstream == {"code": "23505", "message": "duplicate"}
    assert isinstance(down, Unavailable)


def test_nothing_listening_is_unavailable() -> None:
    (error,) = _call("http://127.0.0.1:9", "anything")
    assert isinstance(error, Unavailable)
    assert "cannot be reached" in error.message


def test_the_last_write_is_kept_per_user_and_the_oldest_users_forgotten() -> None:
    writes = LastWrites(kept=2)
    writes.remember("ana", 10)
    writes.remember("ana", 7)  # an older transaction answered late: the newer one counts
    writes.remember("ben", 3)
    assert (writes.last("ana"), writes.last("ben")) == (10, 3)
    writes.remember("cy", 5)  # past two users: the least recent writer goes
    assert (writes.last("ana"), writes.last("ben"), writes.last("cy")) == (None, 3, 5)


class Endpoint(BaseHTTPRequestHandler):
    """A stand-in for hosted Supabase's two endpoints, told apart by port: the load balancer
    (reads, from a replica that has not replayed transaction 42) and the primary's own."""

    balancer_port: ClassVar[int] = 0
    seen: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def _where(self) -> str:
        balancer = self.headers.get("Host", "").endswith(f":{self.balancer_port}")
        return "balancer" if balancer else "primary"

    def do_GET(self) -> None:
        where = self._where()
        self.seen.append((where, "GET", dict(self.headers)))
        if where == "balancer" and self.headers.get("X-Kb-After-Xid") == "42":
            body = {"code": "replica_behind", "message": "not yet", "details": None, "hint": None}
            self._answer(412, body)
        else:
            self._answer(200, [{"answered_by": where}])

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self._where(), "POST", dict(self.headers)))
        self._answer(201, [{"id": 1}], {"X-Kb-Write-Xid": "42"})

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_reads_go_to_the_read_url_until_a_replica_is_behind_the_callers_write() -> None:
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Endpoint) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    primary, balancer = (f"http://localhost:{s.server_port}" for s in servers)
    Endpoint.balancer_port = servers[1].server_port
    Endpoint.seen.clear()
    search = {"query_embedding": [0.5, -0.25], "match_count": 3, "filter": {}}

    async def scenario() -> list[Any]:
        values: dict[str, Any] = {
            "supabase_url": primary,
            "supabase_read_url": balancer,
            "supabase_anon_key": "anon-key",
            "search_via_get": True,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        pool = RestPool(settings)
        alice, bob = pool.bind(_caller("alice")), pool.bind(_caller("bob"))
        try:
            return [
                await alice.search("match_documents", search),
                await alice.insert("documents", {"title": "t"}),
                await alice.search("match_documents", search),
                await bob.search("match_documents", search),
                dict(pool.reads_answered_by),
            ]
        finally:
            await pool.aclose()

    try:
        before, _, after, bobs, _ = asyncio.run(scenario())
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert before == [{"answered_by": "balancer"}]
    assert after == [{"answered_by": "primary"}]
    assert bobs == [{"answered_by": "balancer"}]
    routes = [(where, method) for where, method, _ in Endpoint.seen]
    assert routes == [
        ("balancer", "GET"),
        ("primary", "POST"),
        ("balancer", "GET"),  # refused: behind alice's write
        ("primary", "GET"),
        ("balancer", "GET"),  # bob wrote nothing
    ]
    retried = Endpoint.seen[3][2]
    assert retried["X-Kb-Read-From"] == "primary" and retried["X-Kb-After-Xid"] == "42"
    assert "X-Kb-After-Xid" not in Endpoint.seen[4][2]
