"""stdio, as Claude Desktop runs the server: the SDK's stdio client launches `kb-mcp`, and the
access token comes from KB_ACCESS_TOKEN, verified at start-up.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters, stdio_client

from knowledge_core import limits
from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.mcp.conftest import structured, text_of, token
from tests.support import make_user

COMMAND = [sys.executable, "-m", "knowledge_mcp", "--transport", "stdio"]
# A desktop host registered as an OAuth client of the project.
DESKTOP_AGENT = "0d35c7e8-8b5f-4c1e-9f3a-2c7d4e6b1a90"


@pytest.fixture
def user(stack: LocalStack) -> Iterator[User]:
    person = make_user(stack, "mcp-stdio")
    yield person
    stack.delete_user(person)


def environment(stack: LocalStack, **extra: str) -> dict[str, str]:
    """What a desktop host's config passes: the project's settings and the user's token."""
    return {**stack.services.edge_environment(), "LOG_LEVEL": "INFO", **extra}


@pytest.mark.anyio
async def test_a_stdio_session(stack: LocalStack, user: User, tmp_path: Path) -> None:
    params = StdioServerParameters(
        command=COMMAND[0],
        args=COMMAND[1:],
        env=environment(stack, KB_ACCESS_TOKEN=token(stack, user, client_id=DESKTOP_AGENT)),
        cwd=REPO_ROOT,
    )
    reports: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append(progress)

    with open(tmp_path / "stderr.log", "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "search_knowledge_base" in names and "add_document" in names
            added = structured(
                await client.call_tool(
                    "add_document",
                    {"title": "Desk plant", "content": "The desk fern wants water on Fridays."},
                    progress_callback=on_progress,
                )
            )
            found = structured(
                await client.call_tool("search_knowledge_base", {"query": "when to water the fern"})
            )
            assert found["results"][0]["document_id"] == added["document_id"]
            bad = await client.call_tool(
                "search_knowledge_base", {"query": "x", "limit": limits.MAX_K + 1}
            )
            assert bad.is_error and "limit" in text_of(bad)
    assert reports and reports[-1] == added["passages_total"] == 1
    log = (tmp_path / "stderr.log").read_text()
    assert "signed in from the environment" in log
    assert user.id in log and DESKTOP_AGENT in log


def test_a_bad_token_stops_start_up(stack: LocalStack, user: User) -> None:
    result = subprocess.run(
        COMMAND,
        cwd=REPO_ROOT,
        env=environment(stack, KB_ACCESS_TOKEN=token(stack, user, expires_in=-3600)),
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "kb-mcp: cannot start: the token has expired" in result.stderr
    assert result.stdout == ""  # nothing on the protocol channel


def test_no_token_is_a_clear_error(stack: LocalStack) -> None:
    result = subprocess.run(
        COMMAND,
        cwd=REPO_ROOT,
        env=environment(stack),
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "set KB_ACCESS_TOKEN" in result.stderr
