"""Two users and a shared workspace, through the API: what each may add, see, search, change
and delete; supabase-py with the same token sees exactly the same rows."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack, User
from tests.api.conftest import CountingEmbedder, bearer, settled
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
    before = created.json()["passages_total"]
    # Mark every stored vector: a kept passage keeps the mark, a re-embedded one loses it.
    mark = "[" + ",".join(["1"] + ["0"] * 383) + "]"
    db.execute(
        "update public.document_chunks set embedding = %s::extensions.vector "
        "where document_id = %s",
        (mark, document_id),
    )

    paragraphs[2] = "A rewritten third paragraph about safety rules. " * 10
    response = api.patch(
        f"/v1/documents/{document_id}",
        headers=bearer(team.alice_token),
        json={"content": "\n\n".join(paragraphs)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["embedding_status"] == "ready"  # the answer waited for the worker
    passages = response.json()["passages"]
    assert len(passages) == before
    rows = db.execute(
        "select content, embedding = %s::extensions.vector from public.document_chunks "
        "where document_id = %s order by chunk_index",
        (mark, document_id),
    ).fetchall()
    # Only the changed passage was embedded again; the others kept their vectors.
    assert [content for content, kept in rows if not kept] == [
        p["content"] for p in passages if "rewritten third paragraph" in p["content"]
    ]
    assert sum(1 for _, kept in rows if kept) == before - 1
    hits = search(api, team.alice_token, "safety rules", k=1)
    assert hits[0]["document_id"] == document_id


def test_a_large_document_answers_at_once_and_becomes_searchable(
    api: TestClient, team: Team
) -> None:
    big = "\n\n".join(
        f"Background section {i}: {uuid.uuid4()} " + "filler words " * 50 for i in range(20)
    )
    accepted = add(api, team.alice_token, "big one", big)
    assert accepted.status_code == 202, accepted.text
    document_id = accepted.json()["document_id"]
    assert accepted.json()["embedding_status"] == "pending"
    status_url = f"/v1/documents/{document_id}/status"
    assert accepted.headers["Location"] == status_url
    status = settled(api, team.alice_token, document_id)
    assert status["embedding_status"] == "ready", status
    assert status["passages_embedded"] == status["passages_total"] > 1
    document = api.get(f"/v1/documents/{document_id}", headers=bearer(team.alice_token))
    assert len(document.json()["passages"]) == status["passages_total"]
    assert document.json()["content"] == big
    # Nobody else can see its status.
    assert api.get(status_url, headers=bearer(team.bob_token)).status_code == 404

    # Asked to wait, a large document is answered when it is searchable.
    waited = api.post(
        "/v1/documents",
        headers=bearer(team.alice_token),
        params={"wait": 60},
        json={"title": "big two", "content": big + " Another ending."},
    )
    assert waited.status_code == 201, waited.text
    assert waited.json()["embedding_status"] == "ready"


def test_a_refused_write_stores_nothing(
    api: TestClient, team: Team, db: psycopg.Connection
) -> None:
    big = "\n\n".join(f"Refused section {i}: " + "words " * 60 for i in range(20))
    refused = add(api, team.bob_token, "refused big one", big, workspace_id=team.workspace)
    assert refused.status_code == 403  # a viewer: refused before anything is queued
    misfit = add(api, team.alice_token, "refused layout", "Short text.", sections=[{"chars": 3}])
    assert misfit.status_code == 422, misfit.text
    assert "sections" in misfit.json()["error"]["message"]
    blank = add(api, team.alice_token, "refused blank", "   \n  ")
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "content"
    row = db.execute(
        "select count(*) from public.documents where title like 'refused %'"
    ).fetchone()
    assert row == (0,)


def test_a_written_document_is_searchable_when_answered(
    api: TestClient, team: Team, db: psycopg.Connection
) -> None:
    """The text is stored and queued; the worker writes its passages (the edge embeds none:
    only queries); the answer comes after."""
    embedder = api.app.state.knowledge.embedder  # type: ignore[attr-defined]
    assert isinstance(embedder, CountingEmbedder)
    embedded_before = len(embedder.kinds)
    text = f"Herons stand still in shallow water. {uuid.uuid4().hex}"
    created = add(api, team.alice_token, "herons", text)
    assert created.status_code == 201, created.text
    assert len(embedder.kinds) == embedded_before
    assert created.json()["embedding_status"] == "ready"
    document = created.json()["document_id"]
    row = db.execute(
        "select d.content, d.embedding_status, "
        "exists (select 1 from private.embedding_queue q where q.document_id = d.id), "
        "(select count(*) from public.document_chunks c where c.document_id = d.id) "
        "from public.documents d where d.id = %s",
        (document,),
    ).fetchone()
    assert row == (text, "ready", False, 1)
    hits = search(api, team.alice_token, "Where do herons stand?", k=3)
    assert document in {h["document_id"] for h in hits}
    assert embedder.kinds[embedded_before:] == ["query"]
    changed = api.patch(
        f"/v1/documents/{document}",
        headers=bearer(team.alice_token),
        json={"content": text + " They fish at dawn."},
    ).json()
    assert changed["embedding_status"] == "ready"
    assert changed["content"] == text + " They fish at dawn."
    assert [p["content"] for p in changed["passages"]] == [text + " They fish at dawn."]
