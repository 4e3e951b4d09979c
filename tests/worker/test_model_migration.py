"""A model migration over a few hundred documents, with searches running throughout.

The new model is served by a small OpenAI-compatible embedding server started here (the worker
calls it over HTTP, as it would call OpenAI); its vectors are derived from each text's hash, so
the test knows what every passage's nearest neighbour must be.
"""

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import psycopg
import pytest
from postgrest.exceptions import APIError

from local_stack.stack import LocalStack
from local_stack.users import User
from tests.support import rows_of, supabase_client
from tests.worker.conftest import DEADLINE_SECONDS, wait_settled

OLD = "all-MiniLM-L6-v2"
NEW = "migration-test-model"
DOCUMENTS = 240


def hashed_vector(text: str) -> list[float]:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:16], 16)
    v = np.random.default_rng(seed).standard_normal(384)
    return [float(x) for x in v / np.linalg.norm(v)]


class FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = [
            {"index": i, "embedding": hashed_vector(text)} for i, text in enumerate(body["input"])
        ]
        payload = json.dumps({"data": data, "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def embedding_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def restore_model(stack: LocalStack, db: psycopg.Connection) -> Iterator[None]:
    yield
    db.execute("update private.project_settings set embedding_model = %s", (OLD,))
    db.execute("delete from private.embedding_queue where model = %s", (NEW,))
    row = db.execute(
        "delete from private.embedding_models where model = %s returning index_name", (NEW,)
    ).fetchone()
    if row and row[0]:
        db.execute(f'drop index if exists public."{row[0]}"')


def test_a_model_migration_re_embeds_everything_while_searches_keep_answering(
    stack: LocalStack,
    db: psycopg.Connection,
    person: User,
    embedding_server: str,
    restore_model: None,
) -> None:
    texts = [
        f"Migration note {i}: item {i * 7919 % 1000} of the archive." for i in range(DOCUMENTS)
    ]
    with db.transaction():
        ids = [
            str(r[0])
            for r in db.execute(
                "insert into public.documents (owner_id, title, content) "
                "select %s, 'note ' || n, t from unnest(%s::text[]) with ordinality u(t, n) "
                "returning id",
                (person.id, texts),
            ).fetchall()
        ]
    wait_settled(db, ids)  # the stack's worker embeds them with the old model
    by_text = dict(zip(texts, ids, strict=True))

    new_worker = stack.services.worker("worker-new-model")
    new_worker = dataclasses.replace(
        new_worker,
        env={
            **new_worker.env,
            "EMBEDDING_PROVIDER": "openai",
            "OPENAI_BASE_URL": embedding_server,
            "OPENAI_API_KEY": "test",
            "EMBEDDING_MODEL": NEW,
            "KB_WORKER_MAX_DOCUMENTS": "16",
        },
    )
    client = supabase_client(stack, stack.access_token(person))
    failures: list[str] = []
    searches = 0
    stop = threading.Event()

    def search_throughout() -> None:
        nonlocal searches
        rng = np.random.default_rng(1)
        while not stop.is_set():
            text = texts[int(rng.integers(len(texts)))]
            try:
                rows = rows_of(
                    client.rpc(
                        "match_documents",
                        {
                            "query_embedding": hashed_vector(text),
                            "match_count": 3,
                            "filter_embedding_model": NEW,
                        },
                    ).execute()
                )
                old = rows_of(
                    client.rpc(
                        "match_documents",
                        {
                            "query_embedding": hashed_vector(text),
                            "match_count": 3,
                            "filter_embedding_model": OLD,
                        },
                    ).execute()
                )
            except APIError as error:
                failures.append(repr(error))
                continue
            searches += 1
            if any(r["embedding_model"] != NEW for r in rows) or any(
                r["embedding_model"] != OLD for r in old
            ):
                failures.append("a search returned another model's passages")
            # A migrated document is its own nearest neighbour under the new model.
            if rows and rows[0]["content"] == text and rows[0]["document_id"] != by_text[text]:
                failures.append("wrong nearest document")
            if not rows and not old:
                failures.append(f"no answer at all for {text!r}")

    searcher = threading.Thread(target=search_throughout)
    searcher.start()
    try:
        row = db.execute("select private.set_embedding_model(%s)", (NEW,)).fetchone()
        assert row is not None and row[0] >= DOCUMENTS
        new_worker.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        mixed_seen: list[tuple[Any, ...]] = []
        while time.monotonic() < deadline:
            # Every document always has passages, all of one model.
            state = db.execute(
                "select count(distinct document_id), "
                "count(*) filter (where embedding_model = %s), "
                "(select count(*) from (select document_id from public.document_chunks "
                " where document_id = any(%s::uuid[]) group by document_id "
                " having count(distinct embedding_model) > 1) m) "
                "from public.document_chunks where document_id = any(%s::uuid[])",
                (NEW, ids, ids),
            ).fetchone()
            assert state is not None
            if state[0] != DOCUMENTS or state[2] != 0:
                mixed_seen.append(state)
            if state[1] == DOCUMENTS:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        searcher.join()
        new_worker.stop()

    assert mixed_seen == []
    assert failures == []
    assert searches > 0
    wait_settled(db, ids)
    models = db.execute(
        "select embedding_model, count(*) from public.documents where id = any(%s::uuid[]) "
        "group by 1",
        (ids,),
    ).fetchall()
    assert models == [(NEW, DOCUMENTS)]
    # Every document is found by the new model's search, as its own nearest neighbour.
    for text in texts[:20]:
        rows = rows_of(
            client.rpc(
                "match_documents",
                {
                    "query_embedding": hashed_vector(text),
                    "match_count": 1,
                    "filter_embedding_model": NEW,
                },
            ).execute()
        )
        assert rows[0]["document_id"] == by_text[text]
