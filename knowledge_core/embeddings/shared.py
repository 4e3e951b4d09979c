"""The machine's one local model, in `kb-embedder`, reached over a socket (wire.py).

The API and the MCP server each hold a connection, not a model: one copy in memory, and their
queries meet in one batch. The embedder sees text only: no token, no user, no database.
"""

import array
import asyncio
import itertools
import logging
import sys
from collections.abc import Sequence

import orjson

from knowledge_core.embeddings.base import DIMENSIONS, LOCAL_MODEL, EmbedderOverloaded, Kind
from knowledge_core.embeddings.wire import (
    KINDS,
    OK,
    OVERLOADED,
    ProtocolError,
    frame,
    open_stream,
    read_frame,
)
from knowledge_core.errors import Unavailable

log = logging.getLogger(__name__)


class SharedEmbedder:
    def __init__(self, url: str, *, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[tuple[int, bytes]]] = {}
        self._ids = itertools.count(1)
        self._connecting = asyncio.Lock()

    @property
    def model(self) -> str:
        return LOCAL_MODEL

    async def _connection(self) -> asyncio.StreamWriter:
        async with self._connecting:
            if self._writer is None or self._writer.is_closing():
                try:
                    reader, writer = await asyncio.wait_for(open_stream(self.url), 5)
                except (OSError, TimeoutError) as error:
                    # The address is this machine's business: logged, not told to callers.
                    log.warning("shared embedder unreachable", extra={"url": self.url})
                    raise Unavailable(
                        "the shared embedder is not reachable", service="embedder"
                    ) from error
                self._writer = writer
                self._reader_task = asyncio.create_task(self._read(reader, writer))
                return writer
            return self._writer

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_id, status, payload = await read_frame(reader)
                future = self._pending.pop(request_id, None)
                if future is not None and not future.done():
                    future.set_result((status, payload))
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError):
            pass
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
            lost = Unavailable("the shared embedder closed the connection", service="embedder")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            self._pending.clear()

    async def embed(
        self, texts: Sequence[str], *, token: str | None = None, kind: Kind = "passage"
    ) -> list[list[float]]:
        if not texts:
            return []
        writer = await self._connection()
        request_id = next(self._ids) & 0xFFFFFFFF
        future: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            writer.write(frame(request_id, KINDS.index(kind), orjson.dumps(list(texts))))
            status, payload = await asyncio.wait_for(future, self.timeout)
        except TimeoutError as error:
            raise Unavailable("the shared embedder took too long", service="embedder") from error
        finally:
            self._pending.pop(request_id, None)
        if status == OVERLOADED:
            raise EmbedderOverloaded(payload.decode(errors="replace"))
        if status != OK:
            raise Unavailable(payload.decode(errors="replace"), service="embedder")
        return _vectors(payload)

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)


def _vectors(payload: bytes) -> list[list[float]]:
    """float32 little-endian rows of DIMENSIONS; the edge needs no numpy for this."""
    flat = array.array("f", payload)
    if sys.byteorder != "little":
        flat.byteswap()
    values = flat.tolist()
    return [values[i : i + DIMENSIONS] for i in range(0, len(values), DIMENSIONS)]
