"""Helpers for tests: people, a shared workspace, documents with chunks, and clients per actor."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import numpy as np
import psycopg

from local_stack.settings import REPO_ROOT, StackSettings
from local_stack.stack import LocalStack, User
from supabase import Client, ClientOptions, create_client

DIM = 384


def unit_vector(rng: np.random.Generator) -> list[float]:
    v = rng.standard_normal(DIM)
    return [float(x) for x in v / np.linalg.norm(v)]


def vector_literal(v: "list[float] | np.ndarray") -> str:
    return "[" + ",".join(f"{x:.7f}" for x in v) + "]"


def with_similarity(rng: np.random.Generator, query: list[float], similarity: float) -> list[float]:
    """A unit vector whose cosine similarity to `query` is exactly `similarity`."""
    q = np.array(query)
    r = rng.standard_normal(DIM)
    r -= (r @ q) * q
    r /= np.linalg.norm(r)
    v = similarity * q + np.sqrt(1 - similarity**2) * r
    return [float(x) for x in v]


class EmbeddingLike:
    """Vectors with the structure of real embeddings: a low-dimensional latent space plus noise.

    Uniform random 384-d vectors are all nearly equidistant, which no nearest-neighbour index
    (or user) meets in practice; these have graded neighbourhoods like text embeddings do.
    """

    def __init__(self, rng: np.random.Generator, latent_dims: int = 24, noise: float = 0.5):
        self.rng = rng
        self.mixing = rng.standard_normal((latent_dims, DIM))
        self.noise = noise

    def sample(self, n: int) -> np.ndarray:
        v = self.rng.standard_normal((n, self.mixing.shape[0])) @ self.mixing
        v += self.noise * self.rng.standard_normal((n, DIM))
        normalized: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
        return normalized


def copy_chunks(db_url: str, document: str, vectors: np.ndarray, first_index: int = 0) -> None:
    """Bulk-insert chunks with COPY (the triggers still fill in their scope)."""
    with (
        psycopg.connect(db_url, autocommit=True) as db,
        db.cursor().copy(
            "copy public.document_chunks (document_id, chunk_index, content, embedding) from stdin"
        ) as copy,
    ):
        for i, v in enumerate(vectors, start=first_index):
            copy.write_row((document, i, f"synthetic passage {i}", vector_literal(v)))


@dataclass
class World:
    """Four people, one workspace and a few documents, created straight in the database.

    owner: owns workspace W, the private document P and the shared document S (in W).
    editor / viewer: members of W with those roles. stranger: nobody's colleague; owns X.
    """

    owner: User
    editor: User
    viewer: User
    stranger: User
    workspace: str
    private_doc: str
    shared_doc: str
    stranger_doc: str
    chunks: dict[str, int] = field(default_factory=dict)

    @property
    def users(self) -> list[User]:
        return [self.owner, self.editor, self.viewer, self.stranger]


def make_user(stack: LocalStack, label: str) -> User:
    return stack.create_user(f"{label}-{uuid.uuid4().hex[:12]}@test.local")


def insert_document(
    db: psycopg.Connection,
    owner: User,
    workspace: str | None,
    title: str,
    metadata: str = "{}",
    category: str | None = None,
    model: str = "test-model",
) -> str:
    row = db.execute(
        """insert into public.documents (owner_id, workspace_id, title, content_hash,
                                         embedding_model, metadata, category)
           values (%s, %s, %s, encode(sha256(%s::bytea), 'hex'), %s, %s::jsonb, %s)
           returning id""",
        (owner.id, workspace, title, uuid.uuid4().hex.encode(), model, metadata, category),
    ).fetchone()
    assert row is not None
    return str(row[0])


def workspace_with_viewer(db: psycopg.Connection, name: str, owner: User, viewer: User) -> str:
    """A workspace `owner` created, with `viewer` a member in the viewer role; its id."""
    row = db.execute(
        "insert into public.workspaces (name, created_by) values (%s, %s) returning id",
        (name, owner.id),
    ).fetchone()
    assert row is not None
    workspace = str(row[0])
    db.execute(
        "insert into public.workspace_members (workspace_id, user_id, role) "
        "values (%s, %s, 'viewer')",
        (workspace, viewer.id),
    )
    return workspace


def insert_chunk(
    db: psycopg.Connection, document: str, index: int, content: str, embedding: list[float]
) -> int:
    row = db.execute(
        """insert into public.document_chunks (document_id, chunk_index, content, embedding)
           values (%s, %s, %s, %s::extensions.vector) returning id""",
        (document, index, content, vector_literal(embedding)),
    ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def world(stack: LocalStack, db: psycopg.Connection) -> Iterator[World]:
    rng = np.random.default_rng()
    owner, editor, viewer, stranger = (
        make_user(stack, label) for label in ("owner", "editor", "viewer", "stranger")
    )
    row = db.execute(
        "insert into public.workspaces (name, created_by) values ('W', %s) returning id",
        (owner.id,),
    ).fetchone()
    assert row is not None
    workspace = str(row[0])
    db.execute(
        "insert into public.workspace_members (workspace_id, user_id, role) "
        "values (%s, %s, 'editor'), (%s, %s, 'viewer')",
        (workspace, editor.id, workspace, viewer.id),
    )
    w = World(
        owner=owner,
        editor=editor,
        viewer=viewer,
        stranger=stranger,
        workspace=workspace,
        private_doc=insert_document(db, owner, None, "P"),
        shared_doc=insert_document(db, owner, workspace, "S"),
        stranger_doc=insert_document(db, stranger, None, "X"),
    )
    for doc in (w.private_doc, w.shared_doc, w.stranger_doc):
        w.chunks[doc] = insert_chunk(db, doc, 0, f"chunk of {doc}", unit_vector(rng))
    try:
        yield w
    finally:
        db.execute("delete from auth.users where id = any(%s::uuid[])", ([u.id for u in w.users],))
        db.execute("delete from public.workspaces where id = %s", (workspace,))


def agent_token(
    stack: LocalStack,
    user: User,
    access: str | None,
    *,
    client_id: str | None = None,
    algorithm: str = "HS256",
    expires_in: int = 3600,
) -> str:
    """A token of an OAuth client (an agent) as Supabase Auth's OAuth server issues it (scope
    "openid email", the client's id), after `user` granted that client `access` ("read" or
    "write", recorded as the consent page records it; None: no grant)."""
    client = client_id or str(uuid.uuid4())
    if access is not None:
        stack.grant_agent(user, client, access)
    return stack.access_token(user, client_id=client, algorithm=algorithm, expires_in=expires_in)


def forged_token(stack: LocalStack, user: User) -> str:
    """The user's real claims, signed with a secret that is not the project's."""
    claims = jwt.decode(stack.access_token(user), options={"verify_signature": False})
    return jwt.encode(claims, "not-the-project-secret-" + "x" * 32, "HS256")


def rest_client(stack: LocalStack, token: str | None) -> httpx.Client:
    """Raw PostgREST over HTTP through the gateway, as curl or any HTTP client would call it."""
    headers = {"apikey": stack.anon_key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=f"{stack.settings.api_url}/rest/v1", headers=headers, timeout=30)


def rows_of(response: Any) -> list[dict[str, Any]]:
    """The rows of a supabase-py response (typed as any JSON), checked to be a list of rows."""
    data = response.data
    assert isinstance(data, list)
    assert all(isinstance(row, dict) for row in data)
    return data


def supabase_client(stack: LocalStack, token: str | None) -> Client:
    """supabase-py as an app uses it: the anon key, then the signed-in user's access token."""
    client = create_client(
        stack.settings.api_url,
        stack.anon_key,
        options=ClientOptions(auto_refresh_token=False, persist_session=False),
    )
    if token is not None:
        client.postgrest.auth(token)
    return client


# Embedding models the tests write documents of, registered by the project owner as a deployment
# registers its own (documents of an unregistered model are refused).
TEST_MODELS = (
    "test-model",
    "some-older-model",
    "other-model",
    "fake-384",  # tests/langchain (Python)
    "langchain-js-hash-384",  # tests/langchain/js
    "claim-test-model",
)


def register_model(db: psycopg.Connection, model: str) -> None:
    """As the project owner: documents of `model` may be written (no graph is built)."""
    db.execute(
        "insert into private.embedding_models (model) values (%s) on conflict do nothing", (model,)
    )


def register_test_models(stack: LocalStack) -> None:
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        for model in TEST_MODELS:
            register_model(conn, model)


def test_port_offset() -> int:
    """Added to the ports of the stacks tests start themselves (default 0)."""
    return int(os.environ.get("KB_TEST_PORT_OFFSET", "0"))


def second_stack_settings(name: str, first_port: int) -> StackSettings:
    """Settings for a stack of a test's own, beside the main one, removed by the test after.

    The state lives inside the repository (not /tmp/pytest-of-root, which is private to root):
    when tests run as root, Postgres runs as an unprivileged user that must reach it. Ports sit
    below Linux's ephemeral range (32768-60999), where a client socket's own port left in
    TIME-WAIT under load could otherwise hold the port a restarted server wants.
    KB_TEST_PORT_OFFSET moves every test's own ports, so two checkouts can test at once.
    """
    first_port += test_port_offset()
    return StackSettings(
        state_dir=REPO_ROOT / ".stack" / name,
        api_port=first_port,
        db_port=first_port + 1,
        rest_port=first_port + 2,
        rest_admin_port=first_port + 3,
        edge_api_port=first_port + 9,
        edge_mcp_port=first_port + 10,
    )


def stack_cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`kb-stack ARGS` as a user runs it, with this stack's settings in the environment."""
    settings = {
        f"KB_STACK_{name.upper()}": str(value)
        for name, value in stack.settings.model_dump().items()
        if value is not None
    }
    return subprocess.run(
        [sys.executable, "-m", "local_stack", *args],
        env={**os.environ, **settings},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@contextmanager
def replay_paused(stack: LocalStack) -> Iterator[None]:
    """Every replica of `stack` stops replaying the primary's WAL until the block ends: a replica
    surely behind every write made meanwhile, whatever the machine's speed.

    As the cluster's superuser: pausing replay is the platform's control (Supabase's, on
    hosted), which `postgres` does not have."""
    urls = [replica.admin_db_url(stack.secrets) for replica in stack.replicas()]
    for url in urls:
        with psycopg.connect(url, autocommit=True) as replica:
            replica.execute("select pg_wal_replay_pause()")
    try:
        yield
    finally:
        for url in urls:
            with psycopg.connect(url, autocommit=True) as replica:
                replica.execute("select pg_wal_replay_resume()")
