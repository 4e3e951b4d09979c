"""Fixtures of the hostile suite: the API in-process, the MCP server on loopback, an event loop.

Everything here runs against the real stack (tests/conftest.py starts it): no PostgREST or
database is mocked, so what these tests see is what an attacker would see.
"""

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient

from api.main import create_app
from local_stack.stack import LocalStack
from tests.api.conftest import edge_settings
from tests.hostile.support import MCP_TOOLS, McpDoor, loopback_socket, served
from tests.support import register_test_models


@pytest.fixture(scope="session")
def stack() -> LocalStack:
    """The main stack, started only if some part of it does not answer.

    tests/conftest.py always calls start(), which refuses a running part it cannot recognise
    as its own (a PostgREST whose binary `npm install` replaced underneath it looks foreign,
    and its port "taken"). This suite needs only that every part answers; it never restarts
    or stops one of the main stack's processes.
    """
    local = LocalStack()
    if not all(local.running().values()):
        local.start()
    register_test_models(local)
    return local


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    """One event loop in a thread, for the async clients (MCP) driven by synchronous tests."""
    with start_blocking_portal() as running:
        yield running


# Small enough that an attack can take the path of a large document (answered at once, before
# the worker embeds it), large enough that the world's documents are searchable when answered.
BACKGROUND_THRESHOLD = 4000


@pytest.fixture(scope="session")
def edge(stack: LocalStack) -> Iterator[TestClient]:
    """The API in-process (real lifespan, real local model) against the main stack."""
    settings = edge_settings(
        stack, log_level="ERROR", background_threshold_chars=BACKGROUND_THRESHOLD
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@dataclass(frozen=True)
class McpAvailability:
    """The MCP door, or why there is none (the tests that need it skip with this note)."""

    door: McpDoor | None
    note: str

    def require(self) -> McpDoor:
        if self.door is None:
            message = f"MCP door not tested: {self.note}"
            print(message)
            pytest.skip(message)
        return self.door


def _mcp_factories() -> tuple[Any, Any] | str:
    """knowledge_mcp's create_server and http_app, or why they cannot be had.

    Looked up by name rather than imported statically: the MCP server is written alongside this
    suite, and a missing piece must skip that door with a note, not break the whole suite.
    """
    try:
        module = importlib.import_module("knowledge_mcp")
    except ImportError as error:
        return f"knowledge_mcp is not importable ({error})"
    create_server = getattr(module, "create_server", None)
    http_app = getattr(module, "http_app", None)
    if create_server is None:
        return "knowledge_mcp exposes no create_server"
    if http_app is None:
        return "knowledge_mcp exposes no http_app (streamable HTTP)"
    return create_server, http_app


@pytest.fixture(scope="session")
def mcp(stack: LocalStack, portal: BlockingPortal) -> Iterator[McpAvailability]:
    """The MCP server over streamable HTTP on a free loopback port, if the tree has one."""
    factories = _mcp_factories()
    if isinstance(factories, str):
        yield McpAvailability(None, factories)
        return
    create_server, http_app = factories
    sock = loopback_socket()
    port = sock.getsockname()[1]
    settings = edge_settings(stack, log_level="ERROR", mcp_host="127.0.0.1", mcp_port=port)
    server = create_server(settings)
    with served(http_app(server, settings), sock) as thread:
        door = McpDoor(f"http://127.0.0.1:{thread.port}/mcp", portal)
        user = stack.create_user("hostile-mcp-probe@test.local")
        try:

            async def tool_names(client: Any) -> set[str]:
                listed = await client.list_tools()
                return {tool.name for tool in listed.tools}

            names = door.session(stack.access_token(user), tool_names)
        finally:
            stack.delete_user(user)
        missing = MCP_TOOLS - names
        if missing:
            yield McpAvailability(None, f"the MCP server lacks tools {sorted(missing)}")
        else:
            yield McpAvailability(door, "streamable HTTP on loopback")


@pytest.fixture(scope="module")
def rest(stack: LocalStack) -> Iterator[httpx.Client]:
    """Raw PostgREST through the gateway: the project key, and each actor's token per request."""
    with httpx.Client(
        base_url=f"{stack.settings.api_url}/rest/v1",
        headers={"apikey": stack.anon_key},
        timeout=30,
    ) as client:
        yield client
