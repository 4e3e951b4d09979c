"""Automatic embeddings with the stack's real worker: any door writes text, search finds it.

The worker (kb-worker) runs beside the API, as `kb-stack start` runs it. Each test writes through
a client the way an app would (supabase-py, raw PostgREST, SQL), then polls the document's
embedding_status with a bounded deadline and checks the passages and the API's search.
"""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError

from knowledge_core.chunking import chunk_text
from knowledge_core.settings import Settings
from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack, User
from tests.support import rest_client, rows_of, supabase_client, vector_literal
from tests.worker.conftest import passages, wait_settled

SETTINGS = Settings(supabase_url="http://localhost", supabase_anon_key="unused")  # type: ignore[arg-type]


def expected_passages(text: str) -> list[str]:
    s = SETTINGS
    return chunk_text(text, size=s.chunk_size, overlap=s.chunk_overlap, max_chars=10**7)


def api_search(stack: LocalStack, token: str, query: str) -> list[dict[str, object]]:
    response = httpx.post(
        f"{stack.settings.edge_api_url}/v1/search",
        json={"query": query, "k": 5},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, object]] = response.json()["results"]
    return results


def paragraphs(*topics: str) -> str:
    """A text of one paragraph per topic, each long enough to be a passage of its own."""
    return "\n\n".join(
        " ".join(f"{topic} fact number {i} is worth remembering." for i in range(25))
        for topic in topics
    )


def test_a_supabase_py_insert_becomes_searchable(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    token = stack.access_token(person)
    marker = uuid.uuid4().hex[:8]
    text = f"The lighthouse keeper {marker} feeds the gulls every morning at six."
    client = supabase_client(stack, token)
    row = rows_of(client.table("documents").insert({"title": "Gulls", "content": text}).execute())[
        0
    ]
    assert row["embedding_status"] == "pending"
    assert row["embedding_model"] == "all-MiniLM-L6-v2"  # the project's model, by default

    wait_settled(db, [row["id"]])
    assert [p[1] for p in passages(db, row["id"])] == expected_passages(text)
    seen = rows_of(
        client.table("documents").select("embedding_status").eq("id", row["id"]).execute()
    )
    assert seen == [{"embedding_status": "ready"}]
    hits = api_search(stack, token, f"Who feeds the gulls? {marker}")
    assert hits and hits[0]["document_id"] == row["id"]


def test_a_raw_postgrest_insert_becomes_searchable(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    token = stack.access_token(person)
    marker = uuid.uuid4().hex[:8]
    with rest_client(stack, token) as http:
        response = http.post(
            "/documents",
            json={"title": "Bees", "content": f"Honey bees {marker} dance to point at flowers."},
            headers={"Prefer": "return=representation"},
        )
    assert response.status_code == 201, response.text
    document = response.json()[0]["id"]
    wait_settled(db, [document])
    hits = api_search(stack, token, f"How do bees show where flowers are? {marker}")
    assert hits and hits[0]["document_id"] == document


NODE = shutil.which("node")


@pytest.mark.skipif(
    NODE is None or not (REPO_ROOT / "node_modules" / "@supabase" / "supabase-js").exists(),
    reason="needs Node and `npm install` (package.json's devDependencies)",
)
def test_a_supabase_js_insert_becomes_searchable(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    token = stack.access_token(person)
    marker = uuid.uuid4().hex[:8]
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(Path(__file__).with_name("js") / "insert_document.mjs")],
        env={
            **os.environ,
            "API_URL": stack.settings.api_url,
            "ANON_KEY": stack.anon_key,
            "USER_TOKEN": token,
            "CONTENT": f"Hedgehogs {marker} roll into a ball when they are afraid.",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["embedding_status"] == "pending"
    wait_settled(db, [row["id"]])
    hits = api_search(stack, token, f"What do hedgehogs do when scared? {marker}")
    assert hits and hits[0]["document_id"] == row["id"]


def test_an_update_re_embeds_only_the_passages_that_changed(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    client = supabase_client(stack, stack.access_token(person))
    before = paragraphs("Otters", "Herons", "Beavers")
    document = rows_of(
        client.table("documents").insert({"title": "River", "content": before}).execute()
    )[0]["id"]
    wait_settled(db, [document])
    stored = passages(db, document)
    assert len(stored) >= 3
    # Mark every stored vector: a kept passage keeps the mark, a re-embedded one loses it.
    marked = vector_literal([1.0] + [0.0] * 383)
    db.execute(
        "update public.document_chunks set embedding = %s::extensions.vector "
        "where document_id = %s",
        (marked, document),
    )
    marked_text = passages(db, document)[0][2]

    after = paragraphs("Otters", "Kingfishers", "Beavers")
    client.table("documents").update({"content": after}).eq("id", document).execute()
    wait_settled(db, [document])

    now = passages(db, document)
    assert [p[1] for p in now] == expected_passages(after)
    old_texts = {p[1] for p in stored}
    for _, content, embedding in now:
        if content in old_texts:
            assert embedding == marked_text, f"unchanged passage re-embedded: {content[:40]}"
        else:
            assert embedding != marked_text, f"changed passage kept its old vector: {content[:40]}"
    assert any(p[1] not in old_texts for p in now)
    assert any(p[1] in old_texts for p in now)


def test_a_files_layout_gives_its_passages_their_places(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    """Text and a file's layout written by any door: the worker cuts passages by the file's
    sections, each opened by its heading path and saying where it is."""
    client = supabase_client(stack, stack.access_token(person))
    intro, keys = "Welcome to the relay.", "Rotate the signing keys every ninety days."
    document = rows_of(
        client.table("documents")
        .insert(
            {
                "title": "Relay guide",
                "content": f"{intro}\n\n{keys}",
                "sections": [
                    {"chars": len(intro), "headings": ["Relay guide"]},
                    {"chars": len(keys), "headings": ["Relay guide", "Keys"]},
                ],
            }
        )
        .execute()
    )[0]["id"]
    wait_settled(db, [document])
    rows = db.execute(
        "select content, location, metadata -> 'headings' from public.document_chunks "
        "where document_id = %s order by chunk_index",
        (document,),
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        (f"Relay guide\n{intro}", {"headings": ["Relay guide"]}),
        (f"Relay guide > Keys\n{keys}", {"headings": ["Relay guide", "Keys"]}),
    ]
    assert rows[1][2] == ["Relay guide", "Keys"]  # in the metadata search results carry
    # Queued again from its source, as a move to a new model queues every document (by the
    # database owner): the same passages come back, places and all.
    db.execute(
        "update public.documents set embedding_status = 'pending' where id = %s", (document,)
    )
    wait_settled(db, [document])
    again = db.execute(
        "select content, location from public.document_chunks where document_id = %s "
        "order by chunk_index",
        (document,),
    ).fetchall()
    assert again == [(r[0], r[1]) for r in rows]


def test_a_sql_insert_is_embedded_too(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    row = db.execute(
        "insert into public.documents (owner_id, title, content) "
        "values (%s, 'SQL', %s) returning id",
        (person.id, "Written with plain SQL by a migration or a script."),
    ).fetchone()
    assert row is not None
    wait_settled(db, [str(row[0])])


def test_text_that_cannot_be_embedded_fails_with_a_reason(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    client = supabase_client(stack, stack.access_token(person))
    document = rows_of(
        client.table("documents").insert({"title": "Blank", "content": " \n\t "}).execute()
    )[0]["id"]
    wait_settled(db, [document], until="failed")
    row = rows_of(
        client.table("documents")
        .select("embedding_status,embedding_error")
        .eq("id", document)
        .execute()
    )[0]
    assert row["embedding_status"] == "failed"
    assert "no text" in row["embedding_error"]
    assert passages(db, document) == []


def test_a_document_without_text_or_passages_says_so(
    stack: LocalStack, db: psycopg.Connection, person: User
) -> None:
    client = supabase_client(stack, stack.access_token(person))
    row = rows_of(
        client.table("documents")
        .insert({"title": "Hash only", "content_hash": uuid.uuid4().hex * 2})
        .execute()
    )[0]
    assert row["embedding_status"] == "failed"
    assert "no text" in row["embedding_error"]


@pytest.mark.parametrize("door", ["supabase-py", "raw PostgREST"])
def test_the_owner_sees_the_status_but_cannot_set_it(
    stack: LocalStack, db: psycopg.Connection, person: User, door: str
) -> None:
    token = stack.access_token(person)
    client = supabase_client(stack, token)
    document = rows_of(
        client.table("documents").insert({"title": "Mine", "content": "Some text."}).execute()
    )[0]["id"]
    wait_settled(db, [document])
    if door == "supabase-py":
        with pytest.raises(APIError) as refused:
            client.table("documents").update({"embedding_status": "failed"}).eq(
                "id", document
            ).execute()
        assert refused.value.code == "42501"
    else:
        with rest_client(stack, token) as http:
            response = http.patch(
                "/documents", params={"id": f"eq.{document}"}, json={"embedding_error": "x"}
            )
        assert response.status_code == 403
    wait_settled(db, [document])
