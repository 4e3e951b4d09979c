"""Fixtures of the hostile suite: the API in-process, the MCP server on loopback, an event loop.

Everything here runs against the real stack (tests/conftest.py starts it): no PostgREST or
database is mocked, so what these tests see is what an attacker would see.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient

from api.main import create_app
from knowledge_mcp import create_server, http_app
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


@pytest.fixture(scope="session")
def mcp(stack: LocalStack, portal: BlockingPortal) -> Iterator[McpDoor]:
    """The MCP server over streamable HTTP on a free loopback port.

    A door like the others: a server that cannot be imported, started or listed fails the suite
    here (an error in every test that uses it), never skips it, so a broken MCP server cannot
    quietly shrink what the isolation suite attacks."""
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
        assert names >= MCP_TOOLS, f"the MCP server lacks tools {sorted(MCP_TOOLS - names)}"
        yield door


@pytest.fixture(scope="module")
def rest(stack: LocalStack) -> Iterator[httpx.Client]:
    """Raw PostgREST through the gateway: the project key, and each actor's token per request."""
    with httpx.Client(
        base_url=f"{stack.settings.api_url}/rest/v1",
        headers={"apikey": stack.anon_key},
        timeout=30,
    ) as client:
        yield client
