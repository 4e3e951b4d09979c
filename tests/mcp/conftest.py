"""The MCP server as agents meet it: a real subprocess over streamable HTTP, real tokens.

People are created with unique emails and deleted at the end (their documents go with them).
"""

import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack, User
from tests.support import agent_token, make_user

# The test agent's OAuth client id (Supabase Auth's client ids are UUIDs).
AGENT = "5e1c0a52-2d3e-4b7a-9a55-0c6f2f1e8a10"
SERVING = re.compile(r"kb-mcp: serving MCP at (\S+)")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class McpProcess:
    """A `kb-mcp --transport http` subprocess; `url` is the endpoint it printed once ready."""

    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def mcp_process(stack: LocalStack, **env: str) -> Iterator[McpProcess]:
    """Start the server on a free port (it binds port 0 itself) and wait for its URL."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MCP_", "KB_ACCESS", "SUPABASE_", "EMBEDDING_", "OPENAI_"))
    }
    environment.update(stack.edge_environment())
    environment.update(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "knowledge_mcp", "--transport", "http", "--port", "0"],
        cwd=REPO_ROOT,  # from the repository root, where the folder mcp/ is
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            output.append(line.rstrip("\n"))
            if (match := SERVING.search(line)) and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()  # exited: stop waiting

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(timeout=120)
        if not found:
            raise AssertionError("kb-mcp did not start:\n" + "\n".join(output[-40:]))
        yield McpProcess(process=process, url=found[0], output=output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="session")
def server(stack: LocalStack) -> Iterator[McpProcess]:
    """One server for the HTTP tests, with the real local embedding model."""
    with mcp_process(stack, LOG_LEVEL="INFO") as running:
        yield running


@asynccontextmanager
async def connect(url: str, token: str | None, **options: Any) -> AsyncIterator[Client]:
    """An MCP client over streamable HTTP sending `token` as its bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # The SDK's own timeouts: 30 s, and 300 s to read a stream a long tool call keeps open.
    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        Client(streamable_http_client(url, http_client=http), **options) as client,
    ):
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


@dataclass
class Team:
    """alice owns workspace W, bob is its viewer, carol belongs to nothing of theirs."""

    alice: User
    bob: User
    carol: User
    workspace: str

    @property
    def people(self) -> list[User]:
        return [self.alice, self.bob, self.carol]


@pytest.fixture(scope="session")
def database(stack: LocalStack) -> Iterator[psycopg.Connection]:
    """postgres's connection (as hosted gives it: no superuser, RLS bypassed), to arrange people
    and check what really is in the tables."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def team(stack: LocalStack, database: psycopg.Connection) -> Iterator[Team]:
    alice, bob, carol = (make_user(stack, f"mcp-{name}") for name in ("alice", "bob", "carol"))
    row = database.execute(
        "insert into public.workspaces (name, created_by) values (%s, %s) returning id",
        (f"mcp-team-{uuid.uuid4().hex[:8]}", alice.id),
    ).fetchone()
    assert row is not None
    workspace = str(row[0])
    database.execute(
        "insert into public.workspace_members (workspace_id, user_id, role) "
        "values (%s, %s, 'owner'), (%s, %s, 'viewer') on conflict do nothing",
        (workspace, alice.id, workspace, bob.id),
    )
    try:
        yield Team(alice=alice, bob=bob, carol=carol, workspace=workspace)
    finally:
        database.execute("delete from public.workspaces where id = %s", (workspace,))
        for person in (alice, bob, carol):
            stack.delete_user(person)


def token(
    stack: LocalStack,
    user: User,
    access: str | None = "write",
    *,
    client_id: str | None = AGENT,
    algorithm: str = "HS256",
    expires_in: int = 3600,
) -> str:
    """A real access token as Supabase Auth's OAuth server issues it to an agent (its client_id,
    scope "openid email"), after `user` granted the agent `access` ("read" or "write"; None: no
    grant). client_id=None: the user's own session token instead (full rights)."""
    if client_id is None:
        return stack.access_token(user, algorithm=algorithm, expires_in=expires_in)
    return agent_token(
        stack, user, access, client_id=client_id, algorithm=algorithm, expires_in=expires_in
    )


def readable(database: psycopg.Connection, user: User, document_ids: set[str]) -> bool:
    """Whether the database says `user` may read every one of these documents."""
    rows = database.execute(
        """select count(*) from public.documents d
           where d.id = any(%s::uuid[])
             and (d.owner_id = %s
                  or d.workspace_id in (select workspace_id from public.workspace_members
                                        where user_id = %s))""",
        (list(document_ids), user.id, user.id),
    ).fetchone()
    assert rows is not None
    return int(rows[0]) == len(document_ids)
