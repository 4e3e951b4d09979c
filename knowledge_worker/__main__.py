"""`kb-worker` / `python -m knowledge_worker`: embed documents written by any door."""

import argparse
import asyncio
import signal
import sys

from pydantic import ValidationError

from knowledge_core.embeddings.factory import create_embedder
from knowledge_core.logs import configure_logging
from knowledge_core.settings import Settings
from knowledge_worker.settings import WorkerSettings
from knowledge_worker.worker import EmbeddingWorker

DESCRIPTION = """\
Embed documents written by any door (supabase-js, supabase-py, REST, SQL, LangChain): claim
queued documents, chunk their text, embed the passages that changed, and swap them in.

It connects as the Postgres role kb_embedding_worker, which may only claim queued work and write
its passages: never with the service-role key or a superuser. Settings come from the
environment or a .env file: KB_WORKER_DATABASE_URL (required), KB_WORKER_MAX_DOCUMENTS,
KB_WORKER_LEASE_SECONDS, KB_WORKER_POLL_SECONDS; the embedder and chunking as for the API
(EMBEDDING_PROVIDER, EMBEDDING_MODEL, CHUNK_SIZE, CHUNK_OVERLAP, SUPABASE_URL, ...). It embeds
only documents queued for its own model (the project's, see private.project_settings).
"""


async def _serve(settings: Settings, worker_settings: WorkerSettings) -> None:
    embedder = create_embedder(settings)
    worker = EmbeddingWorker(settings, worker_settings, embedder)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        # Load a local model before the first claim, so a lease is not spent waiting for it.
        load = getattr(embedder, "load", None)
        if load is not None:
            await load()
        await worker.run(stop)
    finally:
        await embedder.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="kb-worker",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--name", help="recorded on each claim; default KB_WORKER_NAME or host:pid")
    args = parser.parse_args()
    try:
        settings = Settings()  # type: ignore[call-arg]
        worker_settings = WorkerSettings()  # type: ignore[call-arg]
        if args.name:
            worker_settings = worker_settings.model_copy(update={"name": args.name})
    except ValidationError as error:
        print(f"kb-worker: invalid settings:\n{error}", file=sys.stderr)
        sys.exit(2)
    configure_logging(settings.log_level)
    asyncio.run(_serve(settings, worker_settings))


if __name__ == "__main__":
    main()
