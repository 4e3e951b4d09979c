"""The shared embedder's protocol: length-prefixed frames over one multiplexed stream.

Why not HTTP: a query embedding is 1.5 KB of floats; on 2 shared cores an HTTP request/response
pair costs more CPU than the framing below, and the edge keeps one connection per process with
any number of requests in flight (each frame carries its request id).

    request:  u32 payload length | u32 id | u8 kind (0 query, 1 passage) | JSON list of texts
    response: u32 payload length | u32 id | u8 status | payload
              status 0: float32 little-endian vectors, 384 per text, in input order
              status 1: overloaded, UTF-8 message (retry soon)   status 2: failed, UTF-8 message
"""

import asyncio
import socket
import struct
from typing import Final

HEADER: Final = struct.Struct("<IIB")
MAX_FRAME: Final = 64 * 1024 * 1024  # 64 MB: the gateway's body cap; a bigger frame is garbage
KINDS: Final = ("query", "passage")
OK, OVERLOADED, FAILED = 0, 1, 2


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def frame(request_id: int, code: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), request_id, code) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, int, bytes]:
    """(id, kind or status, payload); IncompleteReadError when the peer closes between frames."""
    length, request_id, code = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is over the {MAX_FRAME}-byte limit")
    return request_id, code, await reader.readexactly(length)


def parse_url(url: str) -> tuple[str, str | int]:
    """unix:///run/kb/embedder.sock -> ("unix", path); tcp://127.0.0.1:54332 -> (host, port)."""
    if url.startswith("unix://"):
        return "unix", url.removeprefix("unix://")
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not tcp://host:port: {url}")
    return host, int(port)


async def open_stream(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    where, address = parse_url(url)
    if where == "unix":
        return await asyncio.open_unix_connection(str(address))
    return await asyncio.open_connection(where, int(address))


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when an embedder listens at `url` and embeds a word: the stack's readiness probe."""
    where, address = parse_url(url)
    family = socket.AF_UNIX if where == "unix" else socket.AF_INET
    target: str | tuple[str, int] = str(address) if where == "unix" else (where, int(address))
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(target)
            sock.sendall(frame(1, KINDS.index("query"), b'["ready"]'))
            header = b""
            while len(header) < HEADER.size:
                chunk = sock.recv(HEADER.size - len(header))
                if not chunk:
                    return False
                header += chunk
            _, _, status = HEADER.unpack(header)
            return bool(status == OK)
    except OSError:
        return False
