"""What the hostile suite shares: its report file, the four doors' clients, a server thread.

The doors are the ways a request can reach the data: raw PostgREST over HTTP (through the
gateway), supabase-py, this project's API, and the MCP server over streamable HTTP. The same
attack must fail the same way on each, because the database, not the door, decides.
"""

import json
import math
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import httpx2
import uvicorn
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, Phase, settings
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp

from local_stack.stack import LocalStack
from supabase import Client as SupabaseClient
from tests.hostile.strategies import Request
from tests.hostile.world import Actor
from tests.support import supabase_client

T = TypeVar("T")

REPORT_PATH = Path(__file__).with_name("out") / "report.json"
# The tool names the MCP doors use; a server without them is skipped with a note, not passed.
MCP_TOOLS = {"search_knowledge_base", "get_document", "list_documents", "delete_document"}
MCP_ACCEPT = "application/json, text/event-stream"


SCALE = float(os.environ.get("HOSTILE_EXAMPLES", "1.0"))


def examples(n: int) -> settings:
    """Bounded, reproducible: the same attacks on every run, no example database."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )


def floor(n: int) -> int:
    """Attempts a test must at least make: one per example (shrinking only adds)."""
    return max(1, int(n * SCALE))


def send(rest: httpx.Client, actor: Actor, request: Request) -> httpx.Response:
    """The request to raw PostgREST as the actor: the project's anon key (the gateway wants
    one) and their JWT."""
    return rest.request(
        request.method,
        request.path,
        params=tuple(request.params),
        json=request.body,
        headers={**request.headers, "Authorization": f"Bearer {actor.token}"},
    )


def record(section: str, values: dict[str, Any]) -> None:
    """Merge one section into the report.

    Read, update, write: each test module owns its sections, so running one module alone (the
    full load run) refreshes its own figures and keeps the others' from the last run.
    """
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    try:
        data: dict[str, Any] = json.loads(REPORT_PATH.read_text())
    except (FileNotFoundError, ValueError):
        data = {}
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    data[section] = {**values, "recorded_at": stamp}
    REPORT_PATH.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method: a value that was observed."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds, rounded for the report."""
    return {
        f"{name}_ms": round(percentile(seconds, q) * 1000, 1)
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
    }


def recording_supabase(stack: LocalStack, token: str | None) -> tuple[SupabaseClient, list[int]]:
    """supabase-py as an app uses it, plus the HTTP status of every answer it got.

    supabase-py turns refusals into APIError without the status; the hook keeps the status so
    a door can be held to "401", not merely "some error".
    """
    client = supabase_client(stack, token)
    statuses: list[int] = []

    def keep(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    client.postgrest.session.event_hooks = {"request": [], "response": [keep]}
    return client, statuses


@dataclass
class McpDoor:
    """The MCP server over real streamable HTTP on loopback, driven from synchronous tests.

    Each `session` opens a fresh connection with the given bearer token: the server is
    stateless, so this is what a reconnecting agent does, and no session outlives its portal
    call (anyio task groups must close in the task that opened them).
    """

    url: str
    portal: BlockingPortal

    def session(self, token: str, work: Callable[[Client], Awaitable[T]]) -> T:
        async def run() -> T:
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=60) as http,
                Client(streamable_http_client(self.url, http_client=http)) as client,
            ):
                return await work(client)

        return self.portal.call(run)

    def post(
        self,
        message: dict[str, Any],
        *,
        token: str | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One raw JSON-RPC POST: what reaches the server's bearer check, status and all."""
        headers = {"Accept": MCP_ACCEPT, "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.post(self.url, json=message, headers=headers, params=params, timeout=60)


def run_mcp(
    door: McpDoor, actor: Actor, tool: str, arguments: dict[str, Any]
) -> tuple[str, bool, str, Any]:
    """(status, ok, text, structured) of one call on a fresh connection with the actor's token."""

    async def work(client: Any) -> tuple[str, bool, str, Any]:
        if tool == "resource":
            try:
                read = await client.read_resource(f"kb://documents/{arguments['document_id']}")
            except Exception as error:  # the SDK raises the server's refusal as MCPError
                return "resource-error", False, str(error), None
            text = json.dumps([c.model_dump(mode="json") for c in read.contents])
            return "resource-ok", True, text, None
        result = await client.call_tool(tool, arguments)
        text = json.dumps([c.model_dump(mode="json") for c in result.content])
        structured = result.structured_content
        text += json.dumps(structured, default=str)
        if result.is_error:
            return "tool-error", False, text, None
        return "tool-ok", True, text, structured

    try:
        return door.session(actor.token, work)
    except Exception as error:  # refused before any tool ran (e.g. 401: a revoked session)
        return "connection-refused", False, repr(error), None


class ServerThread:
    """An ASGI app served by uvicorn on a loopback port of its own, in a background thread."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def start(self, timeout: float = 120) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server thread did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def loopback_socket() -> socket.socket:
    """A listening-ready socket on a free loopback port (bound now, so the port is ours)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def served(app: ASGIApp, sock: socket.socket) -> Iterator[ServerThread]:
    thread = ServerThread(app, sock)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
