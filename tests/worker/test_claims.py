"""The worker's role and its functions, exercised directly as kb_embedding_worker.

Queued documents here wait for a model no running worker has ('claim-test-model'), so the
stack's own worker leaves them alone and every step is the test's.
"""

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from local_stack.stack import LocalStack, User
from tests.support import make_user, rest_client, unit_vector

MODEL = "claim-test-model"


@pytest.fixture
def worker_db(stack: LocalStack) -> Iterator[psycopg.Connection]:
    with psycopg.connect(stack.worker_db_url, autocommit=True) as conn:
        yield conn


def queue_documents(db: psycopg.Connection, owner: User, n: int) -> list[str]:
    """n documents with text, queued for MODEL in the same transaction that wrote them."""
    with db.transaction():
        ids = [
            str(row[0])
            for row in db.execute(
                "insert into public.documents (owner_id, title, content) "
                "select %s, 'queued', 'text ' || g || ' ' || %s from generate_series(1, %s) g "
                "returning id",
                (owner.id, uuid.uuid4().hex, n),
            ).fetchall()
        ]
        db.execute(
            "update private.embedding_queue set model = %s where document_id = any(%s::uuid[])",
            (MODEL, ids),
        )
    return ids


def claim(conn: psycopg.Connection, n: int, lease: int = 300) -> list[dict[str, object]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from private.claim_embedding_work(%s, %s, %s, 'test')", (MODEL, n, lease)
        ).fetchall()


def complete(conn: psycopg.Connection, document: object, lease: object, text: str) -> bool:
    chunks = [{"content": text, "embedding": unit_vector(np.random.default_rng())}]
    row = conn.execute(
        "select private.complete_embedding_work(%s, %s, %s, %s)",
        (document, lease, MODEL, Jsonb(chunks)),
    ).fetchone()
    assert row is not None
    return bool(row[0])


@pytest.mark.parametrize(
    "statement",
    [
        "select count(*) from public.documents",
        "select count(*) from public.document_chunks",
        "select count(*) from private.embedding_queue",
        "delete from public.documents",
        "insert into public.document_chunks (document_id, chunk_index, content, embedding) "
        "values (gen_random_uuid(), 0, 'x', array_fill(0.1, array[384])::extensions.vector)",
        "update private.embedding_queue set attempts = 0",
        "select private.set_embedding_model('another-model')",
        "select private.add_embedding_model('another-model')",
        "select * from public.ingest_document('t', 'some text')",
        "select private.sections_fit('[]', 'x')",
    ],
)
def test_the_worker_role_can_do_nothing_else(worker_db: psycopg.Connection, statement: str) -> None:
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        worker_db.execute(statement)


def test_two_claims_at_once_never_share_a_document(
    stack: LocalStack, db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    ids = queue_documents(db, person, 6)
    with psycopg.connect(stack.worker_db_url) as first:  # a transaction left open: rows locked
        taken_first = {str(r["document_id"]) for r in claim(first, 3)}
        taken_second = {str(r["document_id"]) for r in claim(worker_db, 10)}
        first.commit()
    assert len(taken_first) == 3
    assert taken_first.isdisjoint(taken_second)
    assert taken_first | taken_second == set(ids)
    assert claim(worker_db, 10) == []  # all leased


def test_an_expired_lease_is_taken_again_and_the_late_worker_writes_nothing(
    db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    (document,) = queue_documents(db, person, 1)
    (late,) = claim(worker_db, 1)
    db.execute(  # the late worker's lease runs out (it crashed, or stalled)
        "update private.embedding_queue set lease_expires_at = now() - interval '1 second' "
        "where document_id = %s",
        (document,),
    )
    (current,) = claim(worker_db, 1)
    assert current["document_id"] == late["document_id"]
    assert current["attempts"] == 2
    assert complete(worker_db, document, late["lease_token"], "late text") is False
    assert db.execute(
        "select count(*) from public.document_chunks where document_id = %s", (document,)
    ).fetchone() == (0,)
    assert complete(worker_db, document, current["lease_token"], "current text") is True
    row = db.execute(
        "select d.embedding_status, d.embedding_model, c.content from public.documents d "
        "join public.document_chunks c on c.document_id = d.id where d.id = %s",
        (document,),
    ).fetchone()
    assert row == ("ready", MODEL, "current text")
    assert claim(worker_db, 1) == []


def test_new_text_during_a_claim_voids_it(
    db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    (document,) = queue_documents(db, person, 1)
    (stale,) = claim(worker_db, 1)
    with db.transaction():
        db.execute("update public.documents set content = 'newer text' where id = %s", (document,))
        db.execute(
            "update private.embedding_queue set model = %s where document_id = %s",
            (MODEL, document),
        )
    assert complete(worker_db, document, stale["lease_token"], "old text") is False
    (fresh,) = claim(worker_db, 1)
    assert fresh["content"] == "newer text"


def test_failures_back_off_then_give_up_and_say_why(
    db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    (document,) = queue_documents(db, person, 1)
    (first,) = claim(worker_db, 1)
    outcome = worker_db.execute(
        "select private.fail_embedding_work(%s, %s, 'the embedder is down')",
        (document, first["lease_token"]),
    ).fetchone()
    assert outcome == ("retrying",)
    assert db.execute(
        "select embedding_status, embedding_error from public.documents where id = %s",
        (document,),
    ).fetchone() == ("pending", "the embedder is down")
    assert claim(worker_db, 1) == []  # backing off
    # Every attempt used up by workers that died holding the claim.
    db.execute(
        "update private.embedding_queue set attempts = 5, not_before = now(), "
        "lease_token = gen_random_uuid(), lease_expires_at = now() - interval '1 second' "
        "where document_id = %s",
        (document,),
    )
    assert claim(worker_db, 1) == []
    status, error = db.execute(
        "select embedding_status, embedding_error from public.documents where id = %s",
        (document,),
    ).fetchone() or (None, None)
    assert status == "failed"
    assert "gave up after 5 attempts" in str(error)
    assert "the embedder is down" in str(error)
    assert db.execute(
        "select count(*) from private.embedding_queue where document_id = %s", (document,)
    ).fetchone() == (0,)


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
@pytest.mark.parametrize(
    "call",
    [
        "select * from private.claim_embedding_work('all-MiniLM-L6-v2', 1, 60)",
        "select private.complete_embedding_work(gen_random_uuid(), gen_random_uuid(), 'm', '[]')",
        "select private.fail_embedding_work(gen_random_uuid(), gen_random_uuid(), 'x')",
        "select private.renew_embedding_lease(gen_random_uuid(), gen_random_uuid())",
        "select private.set_embedding_model('another-model')",
    ],
)
def test_no_api_role_can_claim_or_complete_work(
    db: psycopg.Connection, role: str, call: str
) -> None:
    """Only the worker's role may: not a user, not even the service-role key."""
    with db.transaction(force_rollback=True):
        db.execute(f"set local role {role}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(call)


def test_the_worker_functions_are_not_on_the_api(stack: LocalStack, person: User) -> None:
    """private is not an exposed schema: PostgREST does not know these functions."""
    with rest_client(stack, stack.access_token(person)) as http:
        response = http.post(
            "/rpc/claim_embedding_work", json={"model": "all-MiniLM-L6-v2", "max_documents": 1}
        )
    assert response.status_code == 404, response.text


def test_a_renewed_lease_is_not_taken_and_a_lost_one_cannot_be_renewed(
    db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    (document,) = queue_documents(db, person, 1)
    (held,) = claim(worker_db, 1, lease=5)

    def renew(token: object) -> bool:
        row = worker_db.execute(
            "select private.renew_embedding_lease(%s, %s, 600)", (document, token)
        ).fetchone()
        return bool(row and row[0])

    assert renew(held["lease_token"]) is True
    assert db.execute(
        "select lease_expires_at > now() + interval '500 seconds' from private.embedding_queue "
        "where document_id = %s",
        (document,),
    ).fetchone() == (True,)
    assert renew(uuid.uuid4()) is False  # someone else's token
    db.execute(
        "update private.embedding_queue set lease_expires_at = now() - interval '1 second' "
        "where document_id = %s",
        (document,),
    )
    assert renew(held["lease_token"]) is False  # expired: the claim is up for grabs, not renewed
    (taken,) = claim(worker_db, 1)
    assert taken["lease_token"] != held["lease_token"]


def _backend_pid(conn: psycopg.Connection) -> int:
    row = conn.execute("select pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


def _wait_until_waiting_for_a_lock(db: psycopg.Connection, pid: int) -> None:
    """Poll until `pid` waits for a lock (a deadline guards the loop; nothing is timed)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = db.execute(
            "select wait_event_type from pg_stat_activity where pid = %s", (pid,)
        ).fetchone()
        if row is not None and row[0] == "Lock":
            return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited for a lock")


def test_completing_a_claim_while_its_owner_is_deleted_does_not_deadlock(
    stack: LocalStack, db: psycopg.Connection, worker_db: psycopg.Connection
) -> None:
    """A user's deletion and the worker completing that user's document take their locks in
    the same order (the user's row, the document, its queue row), so one waits for the other.

    The interleaving that deadlocked, made certain: a third transaction holds the user's row,
    the deletion queues for it, then the worker completes the claim (and, before the fix, locked
    the document and queue row first, then queued for the user's row behind the deletion for its
    passages' foreign key check, while the deletion, once it had the row, waited for the
    document)."""
    owner = make_user(stack, "deleted-while-embedded")
    [document] = queue_documents(db, owner, 1)
    [work] = [w for w in claim(worker_db, 100) if str(w["document_id"]) == document]
    with (
        psycopg.connect(stack.db_url) as holder,
        psycopg.connect(stack.db_url, autocommit=True) as deleter,
        ThreadPoolExecutor(2) as pool,
    ):
        deleter_pid, worker_pid = _backend_pid(deleter), _backend_pid(worker_db)
        holder.execute("select 1 from auth.users where id = %s for update", (owner.id,))
        deleting = pool.submit(deleter.execute, "delete from auth.users where id = %s", (owner.id,))
        _wait_until_waiting_for_a_lock(db, deleter_pid)
        completing = pool.submit(
            complete, worker_db, work["document_id"], work["lease_token"], "passage"
        )
        _wait_until_waiting_for_a_lock(db, worker_pid)
        holder.rollback()
        deleting.result()
        # The deletion went first: the document is gone, so the claim is lost, not written.
        assert completing.result() is False
    assert (
        db.execute("select 1 from public.documents where id = %s", (document,)).fetchone() is None
    )


def test_progress_is_written_on_the_document_while_the_claim_holds(
    db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    (document,) = queue_documents(db, person, 1)
    (mine,) = claim(worker_db, 1)
    record = "select private.record_embedding_progress(%s, %s, %s, %s)"
    progress = "select passages_embedded, passages_total, embedding_status from public.documents "
    progress += "where id = %s"
    assert worker_db.execute(record, (document, mine["lease_token"], 64, 130)).fetchone() == (True,)
    assert db.execute(progress, (document,)).fetchone() == (64, 130, "pending")
    # Not this claim's token: nothing written. Impossible counts: refused.
    assert worker_db.execute(record, (document, uuid.uuid4(), 100, 130)).fetchone() == (False,)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        worker_db.execute(record, (document, mine["lease_token"], 131, 130))
    assert db.execute(progress, (document,)).fetchone() == (64, 130, "pending")
    assert complete(worker_db, document, mine["lease_token"], "the one passage") is True
    assert db.execute(progress, (document,)).fetchone() == (1, 1, "ready")


def test_a_reconnecting_worker_gives_back_its_claims_at_once(
    db: psycopg.Connection, worker_db: psycopg.Connection, person: User
) -> None:
    """Its connection died with its work: the claims it held are due again, not in minutes."""
    ids = queue_documents(db, person, 2)
    held = claim(worker_db, 2)
    assert claim(worker_db, 2) == []
    release = "select private.release_embedding_claims(%s)"
    assert worker_db.execute(release, ("another worker",)).fetchone() == (0,)
    assert worker_db.execute(release, ("test",)).fetchone() == (2,)
    again = claim(worker_db, 2)
    assert {str(r["document_id"]) for r in again} == set(ids)
    assert {r["attempts"] for r in again} == {2}
    # What the dead connection held can no longer be written.
    first = held[0]
    assert complete(worker_db, first["document_id"], first["lease_token"], "late") is False
