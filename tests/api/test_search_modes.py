"""/v1/search in its three modes, passages or documents, and the inputs people really send.

Keyword mode ranks by the query's words (any of them, BM25) and embeds nothing; `group_by:
document` returns each document once, at its best passage; a question of only stop words, a
wall of punctuation or another language gets an answer, never a 500.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack
from local_stack.users import User
from tests.api.conftest import CountingEmbedder, bearer
from tests.support import make_user

MODES = ("semantic", "hybrid", "keyword")


@pytest.fixture(scope="module")
def reader(stack: LocalStack, api: TestClient) -> Iterator[tuple[User, str, str]]:
    """A user with three documents of several passages each; a word only they hold."""
    user = make_user(stack, "modes")
    token = stack.access_token(user)
    word = f"zq{uuid.uuid4().hex[:8]}"
    texts = {
        "Glaciers": [
            f"Glaciers carve valleys as they move. The {word} glacier is the fastest known.",
            "Ice flows under its own weight, slowly, like a very thick liquid.",
            "Moraines are the rocks a glacier leaves behind when it melts.",
        ],
        "Volcanoes": [
            "Volcanoes erupt when magma rises through cracks in the crust.",
            "Lava cools into basalt; ash can travel around the world.",
        ],
        "Deserts": [
            "Deserts get less than 250 millimetres of rain a year.",
            f"Dunes migrate with the wind; {word} sand is the finest.",
        ],
    }
    for title, paragraphs in texts.items():
        # Each paragraph long enough to be a passage of its own.
        content = "\n\n".join((p + " ") * 12 for p in paragraphs)
        response = api.post(
            "/v1/documents", headers=bearer(token), json={"title": title, "content": content}
        )
        assert response.status_code == 201, response.text
    yield user, token, word
    stack.delete_user(user)


def search(api: TestClient, token: str, **body: Any) -> list[dict[str, Any]]:
    response = api.post("/v1/search", headers=bearer(token), json=body)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_keyword_mode_ranks_by_words_and_embeds_nothing(
    api: TestClient, reader: tuple[User, str, str]
) -> None:
    _, token, word = reader
    embedder = api.app.state.knowledge.embedder  # type: ignore[attr-defined]
    assert isinstance(embedder, CountingEmbedder)
    before = len(embedder.texts)
    hits = search(api, token, query=f"Which is the {word} one?", mode="keyword", k=10)
    assert len(embedder.texts) == before
    assert {h["title"] for h in hits} == {"Glaciers", "Deserts"}
    assert all(word in h["content"] for h in hits)
    assert all(h["similarity"] is None for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", MODES)
def test_documents_come_once_at_their_best_passage(
    api: TestClient, reader: tuple[User, str, str], mode: str
) -> None:
    _, token, word = reader
    query = f"how glaciers move and carve valleys {word}"
    passages = search(api, token, query=query, mode=mode, k=20)
    documents = search(api, token, query=query, mode=mode, k=20, group_by="document")
    assert len({h["document_id"] for h in documents}) == len(documents)
    best: dict[str, int] = {}
    for hit in passages:
        best.setdefault(hit["document_id"], hit["chunk_id"])
    assert [h["chunk_id"] for h in documents] == list(best.values())
    assert len(passages) > len(documents) >= 2
    two = search(api, token, query=query, mode=mode, k=2, group_by="document")
    assert [h["chunk_id"] for h in two] == [h["chunk_id"] for h in documents[:2]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "query",
    [
        "the of and to is it",  # only stop words: no words for the keyword side
        "?!.,;:-()[]{}" * 150,  # 1,950 characters of punctuation
        "Wie schnell bewegt sich ein Gletscher im Winter?",  # another language
        "冰川移动的速度有多快",  # another script
        "glacier " * 250,  # one word, 2,000 characters
    ],
)
def test_odd_queries_get_an_answer(
    api: TestClient, reader: tuple[User, str, str], mode: str, query: str
) -> None:
    _, token, _ = reader
    response = api.post("/v1/search", headers=bearer(token), json={"query": query, "mode": mode})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    if mode == "keyword" and not any(c.isalpha() and c.isascii() for c in query):
        assert results == []


def test_a_similarity_threshold_in_keyword_mode_is_refused(
    api: TestClient, reader: tuple[User, str, str]
) -> None:
    _, token, _ = reader
    response = api.post(
        "/v1/search",
        headers=bearer(token),
        json={"query": "glacier", "mode": "keyword", "threshold": 0.5},
    )
    assert response.status_code == 422
    assert "threshold" in response.json()["error"]["message"]
