"""Searches by GET: the query vector's compact text is exact, and the rows are the POST's rows.

Exactness is judged by pgvector itself (the real parser, `strtof`), not by a Python model of it.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import orjson
import psycopg
import pytest

from knowledge_core.rest_query import nearest_float32, query_string, vector_text
from local_stack.stack import LocalStack
from local_stack.users import User
from samples.vectors import EmbeddingLike, copy_chunks
from tests.support import insert_document, make_user


def _midpoint_vector(rng: np.random.Generator) -> np.ndarray:
    """float64 values exactly halfway between two neighbouring float32s: where rounding the
    float64 and rounding its decimal text can disagree."""
    low = rng.standard_normal(384).astype(np.float32) / np.float32(20)
    high = np.nextafter(low, np.float32(np.inf))
    middle: np.ndarray = (low.astype(np.float64) + high.astype(np.float64)) / 2
    return middle


def _vectors() -> list[np.ndarray]:
    rng = np.random.default_rng(2026)
    unit = rng.standard_normal((40, 384))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    # What an embedding API returns: 8-9 significant decimals, parsed as float64.
    decimals = np.array([[float(f"{x:.9g}") for x in row] for row in unit[:10]])
    tiny = unit[:5] * 1e-6  # exponents in the text
    return [*unit, *decimals, *tiny, *(_midpoint_vector(rng) for _ in range(5))]


def test_the_text_is_short_and_drops_only_leading_zeros() -> None:
    text = vector_text([0.5, -0.25, 10.5, 1e-7, 0.0])
    assert text == "[.5,-.25,10.5,1e-7,.0]"
    v = np.random.default_rng(1).standard_normal(384)
    v /= np.linalg.norm(v)
    assert len(vector_text(v)) < len(orjson.dumps(v.tolist())) * 0.6


def test_ties_round_as_strtof_rounds_their_decimal_text() -> None:
    tie = 1 + 2**-24  # exactly halfway between float32 1.0 and the next one up
    above = np.nextafter(np.float32(1), np.float32(2))
    # numpy rounds the float64 to even; its shortest text lies just above the middle, so
    # strtof (pgvector, reading a POST body) rounds that up. The GET text must follow strtof.
    assert np.float32(tie) == np.float32(1.0)
    assert repr(tie) == "1.0000000596046448"
    assert nearest_float32(repr(tie)) == above
    assert vector_text([tie]) == vector_text([float(above)])
    # The exact middle written out in full is a true tie: to even.
    assert nearest_float32("1.000000059604644775390625") == np.float32(1.0)


def test_arguments_leave_out_nulls_and_encode_what_a_parser_could_misread() -> None:
    query = query_string(
        {"query_embedding": [0.5, 1e30], "match_count": 3, "filter_category": None}
    )
    # `+` (orjson writes 1e+30) would read as a space to a form decoder: encoded.
    assert query == "query_embedding=%5B.5,1e%2B30%5D&match_count=3"
    assert "+" not in query_string({"query_text": "a+b c"})


@pytest.mark.parametrize("index", range(len(_vectors())))
def test_pgvector_reads_the_same_vector_from_get_and_post_text(
    db: psycopg.Connection, index: int
) -> None:
    vector = _vectors()[index]
    post_text = orjson.dumps(vector.tolist()).decode()  # what a JSON body carries
    row = db.execute(
        "select %s::extensions.vector = %s::extensions.vector, %s::extensions.vector::text",
        (vector_text(vector), post_text, post_text),
    ).fetchone()
    assert row is not None
    assert row[0], row[1]


@pytest.fixture(scope="module")
def searcher(stack: LocalStack) -> Iterator[tuple[User, str]]:
    user = make_user(stack, "get-search")
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        doc = insert_document(conn, user, None, "GET or POST", model="test-model")
        copy_chunks(stack.db_url, doc, EmbeddingLike(np.random.default_rng(5)).sample(300))
    yield user, stack.access_token(user)
    stack.delete_user(user)


def test_get_and_post_searches_return_the_same_rows(
    stack: LocalStack, searcher: tuple[User, str]
) -> None:
    _, token = searcher
    rng = np.random.default_rng(11)
    queries = EmbeddingLike(rng).sample(10)
    with httpx.Client(
        base_url=f"{stack.settings.api_url}/rest/v1",
        headers={"apikey": stack.anon_key, "Authorization": f"Bearer {token}"},
        timeout=30,
    ) as rest:
        for vector in queries:
            for function, extra in (
                ("match_documents", {"match_threshold": -1.0}),
                ("hybrid_search", {"query_text": "synthetic passage"}),
                # What a query string could misread: separators, a plus, non-ASCII.
                ("hybrid_search", {"query_text": "naïve café, 50% & a+b = c? #1 passage"}),
            ):
                arguments: dict[str, Any] = {
                    "query_embedding": vector.tolist(),
                    "match_count": 20,
                    "filter_embedding_model": "test-model",
                    **extra,
                }
                posted = rest.post(f"/rpc/{function}", json=arguments)
                got = rest.get(f"/rpc/{function}?{query_string(arguments)}")
                assert posted.status_code == got.status_code == 200, got.text
                assert len(posted.json()) == 20
                assert got.json() == posted.json()
