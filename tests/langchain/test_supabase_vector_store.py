"""LangChain's own SupabaseVectorStore (langchain-community, unmodified) as the signed-in user.

It writes to public.vector_store and searches with match_documents; RLS decides, as for every
other door. The embeddings are the project's model (all-MiniLM-L6-v2, run here), so what
LangChain adds is found by the API's search too.
"""

import asyncio
import uuid
import warnings
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from postgrest.exceptions import APIError

from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.settings import EmbedderSettings
from local_stack.stack import LocalStack
from tests.support import World, agent_token, rows_of, supabase_client, world
from tests.worker.conftest import wait_settled

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
    from langchain_community.vectorstores import SupabaseVectorStore

TABLE = "vector_store"


class ProjectModel(Embeddings):
    """The project's model through the core's embedder (its public interface only)."""

    def __init__(self) -> None:
        self.embedder = LocalEmbedder(EmbedderSettings())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return asyncio.run(self.embedder.embed(texts))

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.fixture(scope="module")
def embeddings() -> ProjectModel:
    return ProjectModel()


@pytest.fixture
def w(stack: LocalStack, db: psycopg.Connection) -> Iterator[World]:
    with world(stack, db) as made:
        yield made


def store_for(stack: LocalStack, token: str, embedding: Embeddings) -> SupabaseVectorStore:
    return SupabaseVectorStore(
        client=supabase_client(stack, token),
        embedding=embedding,
        table_name=TABLE,
        query_name="match_documents",
    )


def api_search(stack: LocalStack, token: str, query: str) -> list[str]:
    response = httpx.post(
        f"{stack.settings.edge_api_url}/v1/search",
        json={"query": query, "k": 3},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return [hit["document_id"] for hit in response.json()["results"]]


def test_from_documents_search_and_delete(
    stack: LocalStack, db: psycopg.Connection, w: World, embeddings: ProjectModel
) -> None:
    token = stack.access_token(w.owner)
    marker = uuid.uuid4().hex[:8]
    documents = [
        Document(page_content=f"Otters {marker} hold hands while they sleep.", metadata={"a": 1}),
        Document(page_content=f"Penguins {marker} give pebbles as gifts.", metadata={"a": 2}),
    ]
    store = SupabaseVectorStore.from_documents(
        documents, embeddings, client=supabase_client(stack, token), table_name=TABLE
    )
    ids = store.add_texts([f"Crows {marker} remember human faces."], metadatas=[{"a": 3}])
    assert len(ids) == 1

    found = store.similarity_search(f"Which bird recognises people? {marker}", k=1)
    assert [d.page_content for d in found] == [f"Crows {marker} remember human faces."]
    filtered = store.similarity_search(f"sleeping otters {marker}", k=3, filter={"a": 2})
    assert [d.metadata for d in filtered] == [{"a": 2}]
    assert api_search(stack, token, f"Which bird recognises people? {marker}")[0] == ids[0]

    row = db.execute(
        "select d.owner_id::text, d.embedding_model, d.embedding_status, d.content, "
        "count(c.id) from public.documents d join public.document_chunks c on c.document_id = d.id "
        "where d.id = %s group by d.id",
        (ids[0],),
    ).fetchone()
    assert row == (
        w.owner.id,
        "all-MiniLM-L6-v2",
        "ready",
        f"Crows {marker} remember human faces.",
        1,
    )
    # The table keeps ids only: text and vector live in documents and document_chunks.
    assert db.execute(
        "select content, embedding, metadata from public.vector_store where id = %s", (ids[0],)
    ).fetchone() == (None, None, None)

    store.delete(ids)
    assert db.execute(
        "select count(*) from public.documents where id = %s", (ids[0],)
    ).fetchone() == (0,)
    assert ids[0] not in api_search(stack, token, f"Which bird recognises people? {marker}")


def test_add_texts_again_with_the_same_ids_rewrites_them(
    stack: LocalStack, db: psycopg.Connection, w: World, embeddings: ProjectModel
) -> None:
    store = store_for(stack, stack.access_token(w.owner), embeddings)
    (first,) = store.add_texts(["Version one of the note."], metadatas=[{"v": 1}])
    assert store.add_texts(["Version two of the note."], metadatas=[{"v": 2}], ids=[first]) == [
        first
    ]
    row = db.execute(
        "select d.content, d.metadata, c.content from public.documents d "
        "join public.document_chunks c on c.document_id = d.id where d.id = %s",
        (first,),
    ).fetchall()
    assert row == [("Version two of the note.", {"v": 2}, "Version two of the note.")]


def test_vectors_of_a_stated_model_are_recorded_under_it_and_not_mixed(
    stack: LocalStack, db: psycopg.Connection, w: World
) -> None:
    fake = DeterministicFakeEmbedding(size=384)
    client = supabase_client(stack, stack.access_token(w.owner))
    store = SupabaseVectorStore.from_texts(
        ["A text embedded by another model."],
        fake,
        client=client,
        table_name=TABLE,
        embedding_model="fake-384",  # LangChain passes extra arguments as columns
    )
    row = db.execute(
        "select d.embedding_model, array_agg(distinct c.embedding_model) from public.documents d "
        "join public.document_chunks c on c.document_id = d.id "
        "where d.owner_id = %s and d.content = 'A text embedded by another model.' group by d.id",
        (w.owner.id,),
    ).fetchone()
    assert row == ("fake-384", ["fake-384"])
    # The same row again with a vector said to be of the project's model: refused, not mixed.
    (document,) = [
        str(r[0])
        for r in db.execute(
            "select id from public.documents where owner_id = %s and embedding_model = 'fake-384'",
            (w.owner.id,),
        ).fetchall()
    ]
    with pytest.raises(APIError) as refused:
        store.add_vectors([fake.embed_query("x")], [Document(page_content="x")], ids=[document])
    assert refused.value.code == "22023"


def test_a_row_without_a_vector_is_embedded_by_the_worker(
    stack: LocalStack, db: psycopg.Connection, w: World, embeddings: ProjectModel
) -> None:
    token = stack.access_token(w.owner)
    marker = uuid.uuid4().hex[:8]
    client = supabase_client(stack, token)
    rows = rows_of(
        client.table(TABLE).insert({"content": f"Moss {marker} grows on the north side."}).execute()
    )
    document = rows[0]["id"]
    wait_settled(db, [document])
    found = store_for(stack, token, embeddings).similarity_search(
        f"Where does moss grow? {marker}", k=1
    )
    assert found[0].page_content == f"Moss {marker} grows on the north side."


@pytest.mark.parametrize("actor", ["viewer", "read_only_agent", "stranger"])
def test_who_may_not_write_cannot_write_through_langchain(
    stack: LocalStack, db: psycopg.Connection, w: World, actor: str
) -> None:
    fake = DeterministicFakeEmbedding(size=384)
    owner_store = store_for(stack, stack.access_token(w.owner), fake)
    (shared,) = owner_store.add_texts(["Shared note."], workspace_id=w.workspace)
    token = (
        agent_token(stack, w.owner, "read")
        if actor == "read_only_agent"
        else stack.access_token(getattr(w, actor))
    )
    store = store_for(stack, token, fake)
    before = db.execute("select count(*) from public.documents").fetchone()

    with pytest.raises(APIError) as added:
        SupabaseVectorStore._add_vectors(
            store._client,
            TABLE,
            [fake.embed_query("x")],
            [Document(page_content="x")],
            None,
            500,
            workspace_id=w.workspace,
        )
    assert added.value.code == "42501"
    with pytest.raises(APIError) as rewritten:
        store.add_texts(["Overwritten."], ids=[shared])
    assert rewritten.value.code == "42501"
    try:
        store.delete([shared])
    except APIError as error:
        assert error.code == "42501"
    assert db.execute("select count(*) from public.documents").fetchone() == before
    assert db.execute(
        "select content from public.documents where id = %s", (shared,)
    ).fetchone() == ("Shared note.",)
