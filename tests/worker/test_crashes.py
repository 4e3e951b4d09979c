"""Real worker processes: killed mid-batch, two at once, their connections cut.

Each test stops the stack's own worker and runs its own (same program, same settings, own pid and
log files), then starts the stack's worker again.
"""

import dataclasses
import json
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from local_stack.processes import Daemon
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.worker.conftest import DEADLINE_SECONDS, passages, wait_settled
from tests.worker.test_automatic_embeddings import expected_passages, paragraphs


@pytest.fixture
def own_workers(stack: LocalStack) -> Iterator[list[Daemon]]:
    """Test workers (appended by the test); the stack's worker is paused meanwhile."""
    stack.services.worker().stop()
    started: list[Daemon] = []
    try:
        yield started
    finally:
        for daemon in started:
            daemon.stop()
        stack.services.worker().start()


def own_worker(stack: LocalStack, name: str, **env: str) -> Daemon:
    daemon = stack.services.worker(name)
    daemon.log_file.unlink(missing_ok=True)
    return dataclasses.replace(daemon, env={**daemon.env, **env})


def write_documents(db: psycopg.Connection, owner: User, n: int, topics: int) -> dict[str, str]:
    """n documents of `topics` paragraphs each, committed together: {id: text}."""
    texts = {}
    batch = uuid.uuid4().hex[:8]
    with db.transaction():
        for i in range(n):
            text = paragraphs(*(f"Topic{batch}n{i}x{t}" for t in range(topics)))
            row = db.execute(
                "insert into public.documents (owner_id, title, content) "
                "values (%s, %s, %s) returning id",
                (owner.id, f"doc {i}", text),
            ).fetchone()
            assert row is not None
            texts[str(row[0])] = text
    return texts


def embedded_ids(log_file: os.PathLike[str]) -> list[str]:
    """Documents a worker's log says it embedded (one JSON object per line)."""
    ids = []
    with open(log_file) as log:
        for line in log:
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("msg") == "document embedded":
                    ids.append(entry["document_id"])
    return ids


def check_passages(db: psycopg.Connection, texts: dict[str, str]) -> None:
    """Every document has exactly its passages, once each, in order."""
    for document, text in texts.items():
        stored = passages(db, document)
        assert [p[0] for p in stored] == list(range(len(stored)))
        assert [p[1] for p in stored] == expected_passages(text)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(
    stack: LocalStack, db: psycopg.Connection, person: User, own_workers: list[Daemon]
) -> None:
    doomed = own_worker(
        stack, "worker-doomed", KB_WORKER_MAX_DOCUMENTS="8", KB_WORKER_LEASE_SECONDS="5"
    )
    own_workers.append(doomed)
    doomed.start()
    texts = write_documents(db, person, 8, topics=12)
    ids = list(texts)

    deadline = time.monotonic() + DEADLINE_SECONDS
    held: list[str] = []
    while time.monotonic() < deadline and not held:
        held = [
            str(r[0])
            for r in db.execute(
                "select document_id from private.embedding_queue "
                "where leased_by = 'worker-doomed' and document_id = any(%s::uuid[])",
                (ids,),
            ).fetchall()
        ]
        time.sleep(0.02)
    pid = doomed.pid()
    assert held and pid is not None, "the worker never claimed the documents"
    os.kill(pid, signal.SIGKILL)
    doomed.stop()
    # The kill came while it still held claims: those documents were not done.
    pending = [
        d
        for d, s in db.execute(
            "select id::text, embedding_status from public.documents where id = any(%s::uuid[])",
            (ids,),
        ).fetchall()
        if s == "pending"
    ]
    assert pending, "the worker finished before it was killed: nothing was tested"

    successor = own_worker(stack, "worker-successor")
    own_workers.append(successor)
    successor.start()
    wait_settled(db, ids)
    check_passages(db, texts)
    assert set(pending) <= set(embedded_ids(successor.log_file))


def test_two_workers_never_embed_the_same_document(
    stack: LocalStack, db: psycopg.Connection, person: User, own_workers: list[Daemon]
) -> None:
    """Short leases (5 s) and one long document: its worker must keep renewing its lease, or
    the other would take it over and both would embed it."""
    workers = [
        own_worker(stack, name, KB_WORKER_MAX_DOCUMENTS="1", KB_WORKER_LEASE_SECONDS="5")
        for name in ("worker-a", "worker-b")
    ]
    own_workers.extend(workers)
    for worker in workers:
        worker.start()
    texts = write_documents(db, person, 16, topics=2)
    long_text = write_documents(db, person, 1, topics=250)
    wait_settled(db, [*texts, *long_text])
    check_passages(db, {**texts, **long_text})
    done = Counter(
        d for w in workers for d in embedded_ids(w.log_file) if d in texts or d in long_text
    )
    assert set(done) == set(texts) | set(long_text)
    assert max(done.values()) == 1, [d for d, n in done.items() if n > 1]
    logged = [
        json.loads(line)
        for w in workers
        for line in w.log_file.read_text().splitlines()
        if line.startswith("{")
    ]
    assert not [e for e in logged if e.get("msg") == "claim lost"]
    (long_id,) = long_text
    assert any(e.get("msg") == "lease renewed" and e["document_id"] == long_id for e in logged)


def test_a_worker_reconnects_after_its_connections_are_cut(
    stack: LocalStack, db: psycopg.Connection, person: User, own_workers: list[Daemon]
) -> None:
    worker = own_worker(stack, "worker-cut", KB_WORKER_RECONNECT_SECONDS="0.5")
    own_workers.append(worker)
    worker.start()
    first = write_documents(db, person, 1, topics=1)
    wait_settled(db, list(first))
    # What a Postgres restart does to its clients: every connection of the worker's role ends.
    cut = db.execute(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity "
        "where usename = 'kb_embedding_worker'"
    ).fetchone()
    assert cut is not None and cut[0] >= 1
    second = write_documents(db, person, 1, topics=1)
    wait_settled(db, list(second))
    check_passages(db, {**first, **second})
    assert worker.pid() is not None
