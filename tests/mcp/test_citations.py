"""Files uploaded through the API are found by an agent over MCP (streamable HTTP, real token)
with what it needs to cite them: the page of a PDF, the heading path of a DOCX, HTML or Markdown
file, in the structured result, the text the model reads, and get_document's passages."""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from local_stack.stack import LocalStack
from local_stack.users import User
from samples.files import make_docx, make_pdf
from tests.mcp.conftest import McpProcess, connect, structured, text_of, token
from tests.support import make_user

pytestmark = pytest.mark.anyio


@pytest.fixture
def reader(stack: LocalStack) -> Iterator[User]:
    person = make_user(stack, "mcp-citations")
    yield person
    stack.delete_user(person)


def upload(stack: LocalStack, user: User, name: str, data: bytes) -> str:
    response = httpx.post(
        f"{stack.settings.edge_api_url}/v1/documents/upload",
        headers={"Authorization": f"Bearer {stack.access_token(user)}"},
        files={"file": (name, data)},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["document_id"])


async def test_search_results_cite_pages_and_headings(
    server: McpProcess, stack: LocalStack, reader: User
) -> None:
    marker = uuid.uuid4().hex[:6]
    filler = [f"Filler line {i} about unrelated matters." for i in range(45)]
    pdf = upload(
        stack,
        reader,
        "pumps.pdf",
        make_pdf(
            [
                ["Pump manual", *filler],
                [f"The {marker} pump impeller is replaced every two thousand hours.", *filler],
            ],
            title="Pump manual",
        ),
    )
    docx = upload(
        stack,
        reader,
        "travel.docx",
        make_docx(
            [
                ("h1", "Travel policy"),
                ("h2", "Trains"),
                ("p", f"Book {marker} train tickets in second class for trips under four hours."),
            ]
        ),
    )
    async with connect(server.url, token(stack, reader)) as client:
        results = structured(
            await client.call_tool(
                "search_knowledge_base",
                {"query": f"{marker} impeller replacement interval", "limit": 5, "mode": "hybrid"},
            )
        )["results"]
        found = next(r for r in results if "impeller" in r["content"])
        assert found["document_id"] == pdf
        assert found["location"] in ({"page": 2}, {"pages": [1, 2]}, {"pages": [2, 2]})
        assert found["cite_as"].startswith("Pump manual, page")

        result = await client.call_tool(
            "search_knowledge_base",
            {"query": f"which class for {marker} train tickets", "limit": 5, "mode": "hybrid"},
        )
        top = next(r for r in structured(result)["results"] if r["document_id"] == docx)
        assert top["document_id"] == docx
        assert top["location"] == {"headings": ["Travel policy", "Trains"]}
        assert top["cite_as"] == "Travel policy > Trains"
        assert '"Travel policy > Trains"' in text_of(result)  # what the model reads

        document = structured(await client.call_tool("get_document", {"document_id": docx}))
        assert [p["location"] for p in document["passages"]] == [
            {"headings": ["Travel policy", "Trains"]}
        ]
