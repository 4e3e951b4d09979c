"""An agent adds a document and searches for it at once, through the MCP server, with a read
replica behind (tests/conftest.py `replica_stack`): the search finds it every time.

The server is in-memory (the token a stdio host would pass), searches go by GET, and the
replica's replay is paused for the run, so it is behind every write; tests/local_stack/
test_replicas.py holds the API to the same promise and shows the searches miss without it.
"""

import uuid
from collections.abc import Iterator

import pytest
from mcp import Client

from knowledge_mcp import create_server
from local_stack import replicas
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.api.conftest import edge_settings
from tests.mcp.conftest import structured, token
from tests.support import make_user, replay_paused

pytestmark = pytest.mark.anyio

PAIRS = 40


@pytest.fixture
def agent_user(replica_stack: LocalStack) -> Iterator[User]:
    person = make_user(replica_stack, "mcp-replica")
    yield person
    replica_stack.delete_user(person)


async def test_an_agent_finds_what_it_just_added(
    replica_stack: LocalStack, stack: LocalStack, agent_user: User
) -> None:
    settings = edge_settings(replica_stack, embedder_url=stack.embedder_url, search_via_get=True)
    server = create_server(settings, access_token=token(replica_stack, agent_user))
    missed: list[int] = []
    (replica,) = replica_stack.database.replicas()
    replicas.wait_for_replay(replica, replica_stack.secrets)  # the agent's sign-in is there
    async with Client(server, raise_exceptions=True) as client:
        with replay_paused(replica_stack):
            for i in range(PAIRS):
                word = f"mcpryw{uuid.uuid4().hex[:10]}"
                added = structured(
                    await client.call_tool(
                        "add_document", {"title": f"note {i}", "content": f"The {word} note."}
                    )
                )
                found = structured(
                    await client.call_tool(
                        "search_knowledge_base", {"query": word, "mode": "hybrid", "limit": 5}
                    )
                )
                if added["document_id"] not in {hit["document_id"] for hit in found["results"]}:
                    missed.append(i)
    assert missed == []
