"""`kb-embedder`: one local model per machine, served to the API and the MCP server over a socket.

Each edge process would otherwise load its own copy and run it on the same two cores as the other;
here their requests meet in one scheduler (queries first, batched together) and one model.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

import orjson
import uvloop

from knowledge_core.embeddings.base import EmbedderOverloaded
from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.embeddings.wire import (
    FAILED,
    KINDS,
    OK,
    OVERLOADED,
    ProtocolError,
    frame,
    parse_url,
    read_frame,
)
from knowledge_core.errors import Unavailable
from knowledge_core.logs import configure_logging
from knowledge_core.settings import EmbedderSettings

log = logging.getLogger("kb-embedder")


def _texts(kind: int, payload: bytes) -> list[str]:
    if kind >= len(KINDS):
        raise ValueError(f"unknown request kind {kind}")
    try:
        texts = orjson.loads(payload)
    except orjson.JSONDecodeError:
        texts = None
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise ValueError("a request is a JSON list of strings")
    return texts


class EmbedderServer:
    def __init__(self, embedder: LocalEmbedder) -> None:
        self.embedder = embedder

    async def _answer(
        self, writer: asyncio.StreamWriter, request_id: int, kind: int, payload: bytes
    ) -> None:
        try:
            texts = _texts(kind, payload)
            vectors = await self.embedder.embed_array(texts, KINDS[kind])
            response = frame(request_id, OK, vectors.astype("<f4").tobytes())
        except EmbedderOverloaded as error:
            response = frame(request_id, OVERLOADED, error.message.encode())
        except (Unavailable, ValueError) as error:
            message = error.message if isinstance(error, Unavailable) else str(error)
            response = frame(request_id, FAILED, message.encode())
        if not writer.is_closing():
            writer.write(response)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answers: set[asyncio.Task[None]] = set()
        try:
            while True:
                request_id, kind, payload = await read_frame(reader)
                task = asyncio.create_task(self._answer(writer, request_id, kind, payload))
                answers.add(task)
                task.add_done_callback(answers.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the edge process went away; its requests are dropped from the queue below
        except ProtocolError as error:
            log.warning("dropped a connection", extra={"reason": str(error)})
        finally:
            for task in answers:
                task.cancel()
            writer.close()


async def serve(settings: EmbedderSettings, url: str) -> None:
    embedder = LocalEmbedder(settings)
    await embedder.load()
    server = EmbedderServer(embedder)
    where, address = parse_url(url)
    if where == "unix":
        socket_path = Path(str(address))
        socket_path.parent.mkdir(parents=True, exist_ok=True)
        socket_path.unlink(missing_ok=True)  # left by a crashed run; binding would fail
        listener = await asyncio.start_unix_server(server.handle, str(socket_path))
    else:
        listener = await asyncio.start_server(server.handle, where, int(address))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "kb-embedder ready",
        extra={
            "url": url,
            "model": embedder.model,
            "precision": settings.local_embedding_precision,
            "threads": settings.embedder_threads,
            "max_pending": settings.embedder_max_pending,
        },
    )
    async with listener:
        await stop.wait()
    await embedder.aclose()
    if where == "unix":
        with contextlib.suppress(FileNotFoundError):
            os.unlink(str(address))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="kb-embedder",
        description="Serve the local embedding model (all-MiniLM-L6-v2 on ONNX Runtime) to the "
        "API and the MCP server of this machine: one model in memory, their queries batched "
        "together, queries before ingest. Point them at it with EMBEDDER_URL. Settings come "
        "from the environment: LOCAL_EMBEDDING_PRECISION (float32, the default, or int8), "
        "EMBEDDER_THREADS, EMBEDDER_MAX_PENDING, MODEL_CACHE_DIR.",
    )
    parser.add_argument(
        "--listen",
        default=os.environ.get("EMBEDDER_URL"),
        help="unix:///path/embedder.sock or tcp://host:port (default: EMBEDDER_URL)",
    )
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args()
    if not args.listen:
        parser.error("say where to listen: --listen or EMBEDDER_URL")
    configure_logging(args.log_level)
    settings = EmbedderSettings()
    try:
        parse_url(args.listen)
    except ValueError as error:
        parser.error(str(error))
    uvloop.run(serve(settings, args.listen))


if __name__ == "__main__":
    main()
