"""A body past the edge's limit is refused however it is framed, before it is read, and a body
without a token is refused before a byte of it is read.

Sent over a raw socket to the API served by uvicorn, so nothing between the attacker and the
server normalises the framing: declared lengths past the limit, chunked bodies of any chunk
sizes that pass it, and bodies without a token. The server must answer while the attacker still
has bytes to send: it never waits for (or reads) the rest. Before, a chunked body was parsed
whole (10 MB against a 2 MB limit) and an unauthenticated body was read before the 401.
"""

import secrets
import select
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.main import create_app
from local_stack.stack import LocalStack, User
from tests.api.conftest import edge_settings
from tests.hostile.support import ServerThread, examples, loopback_socket, served

MAX_DOCUMENT_CHARS = 5_000
LIMIT = MAX_DOCUMENT_CHARS * 4 + 65_536  # api/main.py: the JSON routes' limit
ROUTES = [
    ("POST", "/v1/documents"),
    ("POST", "/v1/search"),
    ("PATCH", "/v1/documents/00000000-0000-0000-0000-000000000000"),
    ("DELETE", "/v1/documents/00000000-0000-0000-0000-000000000000"),
]


@pytest.fixture(scope="module")
def person(stack: LocalStack) -> Iterator[User]:
    user = stack.create_user(f"framing-{secrets.token_hex(4)}@test.local")
    yield user
    stack.delete_user(user)


@pytest.fixture(scope="module")
def server(stack: LocalStack) -> Iterator[ServerThread]:
    app = create_app(edge_settings(stack, max_document_chars=MAX_DOCUMENT_CHARS))
    with served(app, loopback_socket()) as thread:
        yield thread


def _connect(
    server: ServerThread, method: str, path: str, headers: dict[str, str]
) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


def _answered(sock: socket.socket, wait: float) -> int | None:
    """The status the server sent, if it answered within `wait` seconds."""
    ready, _, _ = select.select([sock], [], [], wait)
    if not ready:
        return None
    head = sock.recv(65_536).split(b"\r\n", 1)[0].decode()
    return int(head.split()[1])


@given(data=st.data())
@examples(24)
def test_a_body_past_the_limit_is_refused_before_it_is_read(
    server: ServerThread, stack: LocalStack, person: User, data: st.DataObject
) -> None:
    method, path = data.draw(st.sampled_from(ROUTES), label="route")
    framing = data.draw(st.sampled_from(["declared", "chunked"]), label="framing")
    headers = {
        "Authorization": f"Bearer {stack.access_token(person)}",
        "Content-Type": "application/json",
    }
    if framing == "declared":
        headers["Content-Length"] = str(LIMIT + data.draw(st.integers(1, 10 * LIMIT)))
        sock = _connect(server, method, path, headers)
        # Nothing of the body is sent: the answer must not wait for it.
        assert _answered(sock, 10) == 413
        sock.close()
        return
    headers["Transfer-Encoding"] = "chunked"
    sock = _connect(server, method, path, headers)
    # Chunks small and large, but never so small that passing the limit takes thousands of sends.
    chunk = st.integers(LIMIT // 64, LIMIT // 3)
    sizes = data.draw(st.lists(chunk, min_size=1, max_size=12), label="chunks")
    sent = 0
    status = None
    try:
        for index in range(100):
            if sent > LIMIT:
                break
            size = sizes[index % len(sizes)]
            sock.sendall(f"{size:x}\r\n".encode() + b"x" * size + b"\r\n")
            sent += size
            status = _answered(sock, 0.05)
            if status is not None:
                break
        # Past the limit, and the body is not finished (no last chunk): the server has answered.
        status = status or _answered(sock, 10)
    except (BrokenPipeError, ConnectionResetError):
        status = status or _answered(sock, 1)
    finally:
        sock.close()
    assert status == 413, (method, path, sent)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_body_without_a_token_is_not_read(server: ServerThread, method: str, path: str) -> None:
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    sock = _connect(server, method, path, headers)
    # Not one byte of the body is sent: the 401 comes on the headers alone.
    assert _answered(sock, 10) == 401
    sock.close()


def test_a_chunked_body_within_the_limit_is_served(
    server: ServerThread, stack: LocalStack, person: User
) -> None:
    """The control: chunked framing itself is fine; only the size is refused."""
    body = b'{"query": "anything at all", "k": 3}'
    headers = {
        "Authorization": f"Bearer {stack.access_token(person)}",
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    sock = _connect(server, "POST", "/v1/search", headers)
    for start in range(0, len(body), 7):
        piece = body[start : start + 7]
        sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    assert _answered(sock, 30) == 200
    sock.close()
