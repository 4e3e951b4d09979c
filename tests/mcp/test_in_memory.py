"""The SDK's in-memory client: no subprocess, no port, the real lifespan and database.

In-memory connections skip HTTP and so bearer auth (tests/mcp/test_http.py covers that); the
token is the one a stdio host would pass. The server is configured for an embedding service that
is not running, so it starts without loading a model and shows what an agent gets when a
dependency is down.
"""

from collections.abc import Iterator

import pytest
from mcp import Client

from knowledge_core.settings import Settings
from knowledge_mcp import create_server
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.api.conftest import edge_settings
from tests.mcp.conftest import free_port, structured, text_of, token
from tests.support import make_user

pytestmark = pytest.mark.anyio


@pytest.fixture
def user(stack: LocalStack) -> Iterator[User]:
    person = make_user(stack, "mcp-memory")
    yield person
    stack.delete_user(person)


def settings_without_a_model(stack: LocalStack) -> Settings:
    """An embedding service nobody runs: the model is never loaded, searches fail cleanly."""
    return edge_settings(
        stack,
        embedding_provider="openai",
        openai_api_key="never-used",
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
    )


async def test_in_memory_client(stack: LocalStack, user: User) -> None:
    server = create_server(settings_without_a_model(stack), access_token=token(stack, user))
    async with Client(server, raise_exceptions=True) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {
            "search_knowledge_base",
            "add_document",
            "get_document",
            "list_documents",
            "delete_document",
        }
        listed = structured(await client.call_tool("list_documents", {}))
        assert (listed["documents"], listed["total"], listed["next_offset"]) == ([], 0, None)
        missing = await client.call_tool(
            "get_document", {"document_id": "00000000-0000-4000-8000-000000000000"}
        )
        assert missing.is_error and "not_found" in text_of(missing)
        down = await client.call_tool("search_knowledge_base", {"query": "anything"})
        assert down.is_error
        assert "unavailable" in text_of(down) and "try again" in text_of(down)


async def test_without_a_token_every_call_is_refused(stack: LocalStack) -> None:
    server = create_server(settings_without_a_model(stack))
    async with Client(server, raise_exceptions=True) as client:
        refused = await client.call_tool("list_documents", {})
    assert refused.is_error and "invalid_token: no access token" in text_of(refused)
