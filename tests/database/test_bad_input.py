"""Bad input gets a clear 4xx from PostgREST and the database, naming what is wrong."""

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from local_stack.stack import LocalStack
from local_stack.users import User
from tests.support import make_user, rest_client

GOOD = [0.05] * 384


def vector_text(first: str) -> str:
    return "[" + ",".join([first] + ["0"] * 383) + "]"


@pytest.fixture(scope="module")
def author(stack: LocalStack) -> Iterator[tuple[User, str, str]]:
    """A user with one document (no chunks); yields (user, token, document id)."""
    user = make_user(stack, "bad-input")
    token = stack.access_token(user)
    with rest_client(stack, token) as http:
        created = http.post(
            "/documents",
            json={"title": "t", "content_hash": "e" * 64, "embedding_model": "test-model"},
            headers={"Prefer": "return=representation"},
        )
    assert created.status_code == 201
    yield user, token, created.json()[0]["id"]
    stack.delete_user(user)


SEARCH_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "wrong dimension",
        {"query_embedding": [0.1, 0.2, 0.3]},
        "22023",
        "query_embedding must have 384 dimensions, not 3",
    ),
    (
        "filter is a string",
        {"query_embedding": GOOD, "filter": "lang=en"},
        "22023",
        "filter must be a JSON object of metadata to match, not a JSON string",
    ),
    (
        "filter is an array",
        {"query_embedding": GOOD, "filter": ["en"]},
        "22023",
        "filter must be a JSON object of metadata to match, not a JSON array",
    ),
    (
        "match_count zero",
        {"query_embedding": GOOD, "match_count": 0},
        "22023",
        "match_count must be between 1 and 1000, not 0",
    ),
    (
        "match_count huge",
        {"query_embedding": GOOD, "match_count": 100000},
        "22023",
        "match_count must be between 1 and 1000, not 100000",
    ),
    (
        "match_count not a number",
        {"query_embedding": GOOD, "match_count": "ten"},
        "22P02",
        'invalid input syntax for type integer: "ten"',
    ),
    (
        "threshold out of range",
        {"query_embedding": GOOD, "match_threshold": 2},
        "22023",
        "match_threshold must be a similarity between -1 and 1, not 2",
    ),
    (
        "threshold NaN",
        {"query_embedding": GOOD, "match_threshold": "NaN"},
        "22023",
        "match_threshold must be a similarity between -1 and 1, not NaN",
    ),
    (
        "NaN in the vector",
        {"query_embedding": vector_text("NaN")},
        "22000",
        "NaN not allowed in vector",
    ),
    (
        "infinity in the vector",
        {"query_embedding": vector_text("Infinity")},
        "22000",
        "infinite value not allowed in vector",
    ),
    (
        "not a vector",
        {"query_embedding": "hello"},
        "22P02",
        'invalid input syntax for type vector: "hello"',
    ),
    (
        "over-long category",
        {"query_embedding": GOOD, "filter_category": "c" * 101},
        "22023",
        "filter_category is longer than 100 characters",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "code", "message"), SEARCH_CASES, ids=[c[0] for c in SEARCH_CASES]
)
def test_match_documents_rejects(
    stack: LocalStack,
    author: tuple[User, str, str],
    case: str,
    body: dict[str, Any],
    code: str,
    message: str,
) -> None:
    with rest_client(stack, author[1]) as http:
        response = http.post("/rpc/match_documents", json=body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["message"] == message


HYBRID_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "over-long query text",
        {"query_text": "x" * 3000},
        "query_text must be at most 2000 characters, not 3000",
    ),
    ("blank query text", {"query_text": "   "}, "query_text is required"),
    (
        "match_count too large",
        {"query_text": "x", "match_count": 500},
        "match_count must be between 1 and 200, not 500",
    ),
    (
        "negative weight",
        {"query_text": "x", "semantic_weight": -1},
        "full_text_weight and semantic_weight must be non-negative numbers",
    ),
    ("rrf_k zero", {"query_text": "x", "rrf_k": 0}, "rrf_k must be a positive integer"),
    (
        "unknown fusion",
        {"query_text": "x", "fusion": "max"},
        "fusion must be 'relative_score' or 'rrf', not 'max'",
    ),
    (
        "null grouping",
        {"query_text": "x", "group_by_document": None},
        "group_by_document must be true or false",
    ),
]


KEYWORD_CASES: list[tuple[str, dict[str, Any], str]] = [
    *HYBRID_CASES[:3],
    (
        "filter not an object",
        {"query_text": "x", "filter": [1]},
        "filter must be a JSON object of metadata to match, not a JSON array",
    ),
]
# hybrid_search's calls carry a good query vector; keyword_search takes none.
TEXT_SEARCH_CASES = [
    ("hybrid_search", case, {"query_embedding": GOOD, **body}, message)
    for case, body, message in HYBRID_CASES
] + [("keyword_search", case, body, message) for case, body, message in KEYWORD_CASES]


@pytest.mark.parametrize(
    ("function", "case", "body", "message"),
    TEXT_SEARCH_CASES,
    ids=[f"{c[0]}: {c[1]}" for c in TEXT_SEARCH_CASES],
)
def test_text_searches_reject(
    stack: LocalStack,
    author: tuple[User, str, str],
    function: str,
    case: str,
    body: dict[str, Any],
    message: str,
) -> None:
    with rest_client(stack, author[1]) as http:
        response = http.post(f"/rpc/{function}", json=body)
    assert response.status_code == 400
    assert response.json() == {"code": "22023", "details": None, "hint": None, "message": message}


@pytest.mark.parametrize(
    "query",
    ["the of and", "?!.,;:" * 300, "Gletscher schmelzen im Sommer", "氷河はどのくらい速いか"],
)
@pytest.mark.parametrize("function", ["keyword_search", "hybrid_search"])
def test_any_text_gets_an_answer(
    stack: LocalStack, author: tuple[User, str, str], query: str, function: str
) -> None:
    """Only stop words, a wall of punctuation, other languages: 200 (keyword side empty or not)."""
    body: dict[str, Any] = {"query_text": query}
    if function == "hybrid_search":
        body["query_embedding"] = GOOD
    with rest_client(stack, author[1]) as http:
        response = http.post(f"/rpc/{function}", json=body)
    assert response.status_code == 200, response.text


def test_json_nan_is_rejected_before_sql(stack: LocalStack, author: tuple[User, str, str]) -> None:
    with rest_client(stack, author[1]) as http:
        response = http.post(
            "/rpc/match_documents",
            content=b'{"query_embedding": [NaN' + b", 0" * 383 + b"]}",
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"


def test_missing_query_embedding_names_the_function(
    stack: LocalStack, author: tuple[User, str, str]
) -> None:
    with rest_client(stack, author[1]) as http:
        response = http.post("/rpc/match_documents", json={"filter": {}})
    assert response.status_code == 404
    assert response.json()["code"] == "PGRST202"
    assert "public.match_documents" in response.json()["details"]


def _chunk(document: str, **overrides: Any) -> dict[str, Any]:
    return {
        "document_id": document,
        "chunk_index": 0,
        "content": "text",
        "embedding": GOOD,
        **overrides,
    }


def _doc(**overrides: Any) -> dict[str, Any]:
    return {"title": "t", "content_hash": "f" * 64, "embedding_model": "test-model", **overrides}


WRITE_CASES: list[tuple[str, str, Any, int, str, str]] = [
    # (case, table, body (a callable of the document id for chunks), status, code, message part)
    (
        "over-long chunk text",
        "document_chunks",
        lambda d: _chunk(d, content="x" * 9000),
        400,
        "23514",
        "document_chunks_content_check",
    ),
    (
        "chunk of wrong dimension",
        "document_chunks",
        lambda d: _chunk(d, embedding=[1, 2, 3]),
        400,
        "22000",
        "expected 384 dimensions, not 3",
    ),
    (
        "NaN in a chunk's embedding",
        "document_chunks",
        lambda d: _chunk(d, embedding=vector_text("NaN")),
        400,
        "22000",
        "NaN not allowed",
    ),
    (
        # Refused as a document of someone else's is (tests/hostile/test_oracles.py).
        "chunk of a missing document",
        "document_chunks",
        lambda d: _chunk("00000000-0000-0000-0000-000000000000"),
        403,
        "42501",
        "row-level security",
    ),
    (
        # Only the project owner adds models (private.embedding_models); nothing is registered.
        "document of an unregistered embedding model",
        "documents",
        lambda d: _doc(embedding_model="made-up-model"),
        400,
        "22023",
        'embedding model "made-up-model" is not registered',
    ),
    (
        "metadata that is not an object",
        "documents",
        lambda d: _doc(metadata=[1]),
        400,
        "23514",
        "documents_metadata_check",
    ),
    (
        "over-long title",
        "documents",
        lambda d: _doc(title="t" * 600),
        400,
        "23514",
        "documents_title_check",
    ),
    (
        "malformed content hash",
        "documents",
        lambda d: _doc(content_hash="abc"),
        400,
        "23514",
        "documents_content_hash_check",
    ),
    (
        "unknown column",
        "documents",
        lambda d: _doc(bogus=1),
        400,
        "PGRST204",
        "Column 'bogus' of relation 'documents' does not exist",
    ),
    (
        "someone else as owner",
        "documents",
        lambda d: _doc(owner_id="00000000-0000-0000-0000-000000000000"),
        403,
        "42501",
        "row-level security",
    ),
]


@pytest.mark.parametrize(
    ("case", "table", "body", "status", "code", "message"),
    WRITE_CASES,
    ids=[c[0] for c in WRITE_CASES],
)
def test_writes_reject_bad_rows_and_keep_nothing(
    stack: LocalStack,
    db: psycopg.Connection,
    author: tuple[User, str, str],
    case: str,
    table: str,
    body: Any,
    status: int,
    code: str,
    message: str,
) -> None:
    user, token, document = author
    count = f"select count(*) from public.{table} where owner_id = %s"  # noqa: S608
    before = db.execute(count, (user.id,)).fetchone()
    with rest_client(stack, token) as http:
        response: httpx.Response = http.post(f"/{table}", json=body(document))
    assert response.status_code == status
    assert response.json()["code"] == code
    assert message in response.json()["message"]
    assert db.execute(count, (user.id,)).fetchone() == before


INGEST_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("no text", {"title": "t", "content": None}, "content is required"),
    ("layout longer than the text", {"sections": [{"chars": 10}]}, "sections must be"),
    (
        "layout without the blank lines",
        {"content": "ab\n\ncd", "sections": [{"chars": 2}, {"chars": 4}]},
        "sections must be",
    ),
    ("a page and headings", {"sections": [{"chars": 4, "page": 1, "headings": []}]}, "sections"),
    ("page zero", {"sections": [{"chars": 4, "page": 0}]}, "sections must be"),
    ("headings not strings", {"sections": [{"chars": 4, "headings": [1]}]}, "sections must be"),
    ("an unknown key", {"sections": [{"chars": 4, "font": "serif"}]}, "sections must be"),
    ("not a list", {"sections": {"chars": 4}}, "sections must be"),
    ("an empty list", {"sections": []}, "sections"),
    ("a fraction of a character", {"sections": [{"chars": 3.5}]}, "sections must be"),
]


@pytest.mark.parametrize(
    ("case", "body", "message"), INGEST_CASES, ids=[c[0] for c in INGEST_CASES]
)
def test_ingest_rejects_bad_text_or_layout_and_stores_nothing(
    stack: LocalStack,
    db: psycopg.Connection,
    author: tuple[User, str, str],
    case: str,
    body: dict[str, Any],
    message: str,
) -> None:
    """Every door's write: the text and its file's layout are checked by the database, so a
    layout that does not describe the text (or is not one) leaves no document behind."""
    user, token, _ = author
    count = "select count(*) from public.documents where owner_id = %s"
    before = db.execute(count, (user.id,)).fetchone()
    with rest_client(stack, token) as http:
        response = http.post("/rpc/ingest_document", json={"title": "t", "content": "text", **body})
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    if message == "sections must be":  # the message says what the text needs
        length = len(body.get("content") or "text")
        assert f"add up to the text ({length} characters)" in response.json()["message"]
    assert db.execute(count, (user.id,)).fetchone() == before


def test_a_layout_that_fits_is_kept_and_new_text_drops_it(
    stack: LocalStack, db: psycopg.Connection, author: tuple[User, str, str]
) -> None:
    _, token, _ = author
    layout = [{"chars": 4, "page": 1}, {"chars": 5, "headings": ["B"]}]
    with rest_client(stack, token) as http:
        made = http.post(
            "/rpc/ingest_document",
            json={"title": "laid out", "content": "abcd\n\nefghi", "sections": layout},
        )
        assert made.status_code == 200, made.text
        document = made.json()[0]["document_id"]
        assert made.json()[0]["embedding_status"] == "pending"
        # New text that the old layout no longer describes: plain text from now on.
        changed = http.patch(
            "/documents", params={"id": f"eq.{document}"}, json={"content": "a longer text"}
        )
        assert changed.status_code == 204, changed.text
    row = db.execute("select sections from public.documents where id = %s", (document,))
    assert row.fetchone() == (None,)


def test_no_writer_adds_a_model_to_the_registry(
    stack: LocalStack, db: psycopg.Connection, author: tuple[User, str, str]
) -> None:
    """Every door that names a model refuses an unregistered one (ingest_document names none:
    its documents are the project's model's), and the registry, which every unfiltered search of
    a large caller walks model by model, stays the owner's list."""
    _, token, _ = author
    registry = "select array_agg(model order by model) from private.embedding_models"
    before = db.execute(registry).fetchone()
    vector = [0.05] * 384
    attempts = [
        ("/documents", _doc(embedding_model="writer-made-model")),
        ("/vector_store", {"content": "x", "embedding": vector, "embedding_model": "vs-model"}),
        ("/vector_store", {"content": "y", "metadata": {"embedding_model": "meta-model"}}),
    ]
    with rest_client(stack, token) as http:
        for path, body in attempts:
            response = http.post(path, json=body)
            assert response.status_code == 400, (path, response.text)
            assert "is not registered" in response.json()["message"], response.text
    assert db.execute(registry).fetchone() == before
