"""The API killed in the middle of a write loses nothing: once the text is stored, the database
and its worker finish the document whatever happens to the process that wrote it.

A real `kb-api` process (its own port, the main stack behind it) takes a large Markdown upload
and is asked to wait for it; as soon as the document is in the database, the process gets
SIGKILL, in the middle of that wait, the client never answered. The document still becomes
ready, with every passage its file makes and each passage's place in the file."""

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack, User
from tests.support import make_user

DEADLINE_SECONDS = 180.0  # for the worker; a bound, never a timed assertion
SECTIONS = 120


@pytest.fixture
def writer(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "killed-mid-write")
    yield user
    stack.delete_user(user)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api_process(stack: LocalStack, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, **stack.edge_environment(), "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the API process did not become ready")


def _guide() -> bytes:
    parts = ["# Field guide"]
    for n in range(1, SECTIONS + 1):
        facts = " ".join(f"Observation {n}.{i}: the herd moved north at dawn." for i in range(18))
        parts.append(f"## Station {n}\n\n{facts}")
    return "\n\n".join(parts).encode()


def test_a_write_survives_the_api_killed_while_it_waits(
    stack: LocalStack, writer: User, db: psycopg.Connection
) -> None:
    port = _free_port()
    api = _api_process(stack, port)
    outcome: list[object] = []

    def upload() -> None:
        try:
            outcome.append(
                httpx.post(
                    f"http://127.0.0.1:{port}/v1/documents/upload",
                    headers={"Authorization": f"Bearer {stack.access_token(writer)}"},
                    params={"wait": 60},
                    files={"file": ("guide.md", _guide())},
                    timeout=120,
                )
            )
        except httpx.TransportError as error:
            outcome.append(error)

    sender = threading.Thread(target=upload)
    try:
        sender.start()
        deadline = time.monotonic() + 60
        stored: tuple[object, ...] | None = None
        while stored is None and time.monotonic() < deadline:
            stored = db.execute(
                "select id, embedding_status from public.documents where owner_id = %s",
                (writer.id,),
            ).fetchone()
            time.sleep(0.05)
        assert stored is not None, "the upload was never stored"
        api.kill()  # SIGKILL: no shutdown, no cleanup, mid-request
        api.wait(timeout=30)
        sender.join(timeout=60)
    finally:
        if api.poll() is None:
            api.kill()
    document = str(stored[0])
    # Killed before it could answer: the client got no acknowledgement at all.
    assert stored[1] == "pending"
    assert outcome and isinstance(outcome[0], httpx.TransportError), outcome

    deadline = time.monotonic() + DEADLINE_SECONDS
    status = "pending"
    while status == "pending" and time.monotonic() < deadline:
        row = db.execute(
            "select embedding_status from public.documents where id = %s", (document,)
        ).fetchone()
        status = str(row[0]) if row else "gone"
        time.sleep(0.5)
    assert status == "ready"
    total, headings, indexes = db.execute(
        "select d.passages_total, "
        "array(select distinct c.location -> 'headings' ->> 1 from public.document_chunks c "
        "      where c.document_id = d.id), "
        "array(select c.chunk_index from public.document_chunks c where c.document_id = d.id "
        "      order by c.chunk_index) "
        "from public.documents d where d.id = %s",
        (document,),
    ).fetchone() or (None, [], [])
    assert indexes == list(range(total)) and total >= SECTIONS
    assert sorted(headings) == sorted(f"Station {n}" for n in range(1, SECTIONS + 1))
