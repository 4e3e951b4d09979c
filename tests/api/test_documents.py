"""Two users and a shared workspace, through the API: what each may add, see, search, change
and delete; supabase-py with the same token sees exactly the same rows."""

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack, User
from tests.api.conftest import CountingEmbedder, bearer
from tests.support import make_user, rows_of, supabase_client

CATS = "Cats sleep for most of the day. A house cat naps twelve to sixteen hours."
ROCKETS = "Liquid-fuel rockets burn kerosene or hydrogen with liquid oxygen to reach orbit."
GARDEN = "Tomatoes need full sun, deep watering and a stake to climb as they grow."


@dataclass
class Team:
    alice: User
    bob: User
    alice_token: str
    bob_token: str
    workspace: str


@pytest.fixture(scope="module")
def team(stack: LocalStack) -> Iterator[Team]:
    alice, bob = make_user(stack, "alice"), make_user(stack, "bob")
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        row = db.execute(
            "insert into public.workspaces (name, created_by) values ('garden club', %s) "
            "returning id",
            (alice.id,),
        ).fetchone()
        assert row is not None
        db.execute(
            "insert into public.workspace_members (workspace_id, user_id, role) "
            "values (%s, %s, 'viewer')",
            (row[0], bob.id),
        )
    yield Team(alice, bob, stack.access_token(alice), stack.access_token(bob), str(row[0]))
    stack.delete_user(alice)
    stack.delete_user(bob)
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        db.execute("delete from public.workspaces where id = %s", (row[0],))


def add(api: TestClient, token: str, title: str, content: str, **extra: Any) -> Any:
    return api.post(
        "/v1/documents", headers=bearer(token), json={"title": title, "content": content, **extra}
    )


def search(api: TestClient, token: str, query: str, **extra: Any) -> list[dict[str, Any]]:
    response = api.post("/v1/search", headers=bearer(token), json={"query": query, **extra})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def titles(api: TestClient, token: str) -> set[str]:
    response = api.get("/v1/documents", headers=bearer(token), params={"limit": 100})
    assert response.status_code == 200, response.text
    return {item["title"] for item in response.json()["items"]}


def test_who_adds_sees_searches_changes_and_deletes_what(
    api: TestClient, stack: LocalStack, team: Team
) -> None:
    private = add(api, team.alice_token, "alice cats", CATS, metadata={"lang": "en"})
    assert private.status_code == 201, private.text
    shared = add(
        api,
        team.alice_token,
        "club tomatoes",
        GARDEN,
        workspace_id=team.workspace,
        category="garden",
    )
    assert shared.status_code == 201, shared.text
    bobs = add(api, team.bob_token, "bob rockets", ROCKETS)
    assert bobs.status_code == 201, bobs.text

    # A viewer may not add to the workspace: the database refuses, nothing is stored.
    refused = add(
        api, team.bob_token, "bob in the club", CATS + " Also dogs.", workspace_id=team.workspace
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"

    assert titles(api, team.alice_token) == {"alice cats", "club tomatoes"}
    assert titles(api, team.bob_token) == {"club tomatoes", "bob rockets"}

    # Search: each finds what they may read, and nothing else, however close it is.
    alice_hits = search(api, team.alice_token, "how long do cats sleep", k=10)
    assert alice_hits[0]["title"] == "alice cats"
    assert {h["title"] for h in alice_hits} <= {"alice cats", "club tomatoes"}
    bob_hits = search(api, team.bob_token, "how long do cats sleep", k=10)
    assert {h["title"] for h in bob_hits} <= {"club tomatoes", "bob rockets"}
    hit = bob_hits[0]
    assert {"chunk_id", "document_id", "similarity", "score", "metadata", "content"} <= set(hit)

    # supabase-py with the same tokens sees exactly the same documents.
    for token in (team.alice_token, team.bob_token):
        client = supabase_client(stack, token)
        rows = rows_of(client.table("documents").select("title").execute())
        assert {r["title"] for r in rows} == titles(api, token)

    shared_id = shared.json()["document_id"]
    # The viewer can read the shared document but not change or delete it.
    assert api.get(f"/v1/documents/{shared_id}", headers=bearer(team.bob_token)).status_code == 200
    patch = api.patch(
        f"/v1/documents/{shared_id}", headers=bearer(team.bob_token), json={"title": "taken over"}
    )
    assert patch.status_code == 403
    delete = api.delete(f"/v1/documents/{shared_id}", headers=bearer(team.bob_token))
    assert delete.status_code == 403
    # Alice's private document does not exist as far as bob can tell.
    private_id = private.json()["document_id"]
    assert api.get(f"/v1/documents/{private_id}", headers=bearer(team.bob_token)).status_code == 404
    assert (
        api.delete(f"/v1/documents/{private_id}", headers=bearer(team.bob_token)).status_code == 404
    )

    # The owner changes and deletes.
    patched = api.patch(
        f"/v1/documents/{shared_id}",
        headers=bearer(team.alice_token),
        json={"title": "club tomatoes, revised", "metadata": {"season": "summer"}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "club tomatoes, revised"
    assert (
        api.delete(f"/v1/documents/{shared_id}", headers=bearer(team.alice_token)).status_code
        == 204
    )
    assert (
        api.get(f"/v1/documents/{shared_id}", headers=bearer(team.alice_token)).status_code == 404
    )
    assert titles(api, team.bob_token) == {"bob rockets"}


def test_ingest_is_idempotent(api: TestClient, team: Team) -> None:
    text = f"Idempotence check {uuid.uuid4()}. The same text twice is one document."
    first = add(api, team.alice_token, "once", text)
    again = add(api, team.alice_token, "once again", text)
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["document_id"] == first.json()["document_id"]


def test_update_reembeds_only_changed_passages(
    api: TestClient, team: Team, db: psycopg.Connection
) -> None:
    paragraphs = [
        f"Paragraph {i} of the handbook {uuid.uuid4()}. " + "Details follow. " * 40
        for i in range(4)
    ]
    created = add(api, team.alice_token, "handbook", "\n\n".join(paragraphs))
    assert created.status_code == 201, created.text
    document_id = created.json()["document_id"]
    before = created.json()["chunk_count"]
    embedder: CountingEmbedder = api.app.state.knowledge.embedder  # type: ignore[attr-defined]
    embedder.texts.clear()

    paragraphs[2] = "A rewritten third paragraph about safety rules. " * 10
    response = api.patch(
        f"/v1/documents/{document_id}",
        headers=bearer(team.alice_token),
        json={"content": "\n\n".join(paragraphs)},
    )
    assert response.status_code == 200, response.text
    passages = [c["content"] for c in response.json()["chunks"]]
    assert len(passages) == before
    # Only the changed passage went to the model.
    assert len(embedder.texts) == 1
    assert "rewritten third paragraph" in embedder.texts[0]
    hits = search(api, team.alice_token, "safety rules", k=1)
    assert hits[0]["document_id"] == document_id


def test_large_document_is_ingested_in_the_background(api: TestClient, team: Team) -> None:
    big = "\n\n".join(
        f"Background section {i}: {uuid.uuid4()} " + "filler words " * 50 for i in range(20)
    )
    accepted = add(api, team.alice_token, "big one", big)
    assert accepted.status_code == 202, accepted.text
    status_url = accepted.json()["status_url"]
    assert accepted.headers["Location"] == status_url
    deadline = time.monotonic() + 60
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = api.get(status_url, headers=bearer(team.alice_token)).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["chunks_embedded"] == job["chunks_total"] > 1
    document = api.get(f"/v1/documents/{job['document_id']}", headers=bearer(team.alice_token))
    assert len(document.json()["chunks"]) == job["chunks_total"]
    # Nobody else can see the job.
    assert api.get(status_url, headers=bearer(team.bob_token)).status_code == 404


def test_failed_background_ingest_leaves_no_document(
    api: TestClient, team: Team, db: psycopg.Connection
) -> None:
    big = "\n\n".join(f"Refused section {i}: " + "words " * 60 for i in range(20))
    accepted = add(api, team.bob_token, "refused big one", big, workspace_id=team.workspace)
    assert accepted.status_code == 202
    deadline = time.monotonic() + 60
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = api.get(accepted.json()["status_url"], headers=bearer(team.bob_token)).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "failed"
    assert "row-level security" in job["error"]
    row = db.execute("select count(*) from public.documents where title = 'refused big one'")
    assert row.fetchone() == (0,)


def test_the_edge_keeps_the_text_and_its_document_is_ready_at_once(
    api: TestClient, team: Team, db: psycopg.Connection
) -> None:
    """Text and passages land together: the worker never sees the document, and a model
    migration can re-embed it from source."""
    text = f"Herons stand still in shallow water. {uuid.uuid4().hex}"
    created = add(api, team.alice_token, "herons", text)
    assert created.status_code == 201, created.text
    document = created.json()["document_id"]
    row = db.execute(
        "select d.content, d.embedding_status, "
        "exists (select 1 from private.embedding_queue q where q.document_id = d.id) "
        "from public.documents d where d.id = %s",
        (document,),
    ).fetchone()
    assert row == (text, "ready", False)
    changed = api.patch(
        f"/v1/documents/{document}",
        headers=bearer(team.alice_token),
        json={"content": text + " They fish at dawn."},
    ).json()
    assert changed["embedding_status"] == "ready"
    assert db.execute(
        "select content from public.documents where id = %s", (document,)
    ).fetchone() == (text + " They fish at dawn.",)
