"""Claim queued documents, chunk and embed what changed, swap the passages in.

The worker is the one writer of the vectors of every document written as text, whichever door
wrote it (the API, MCP and `kb` included: they store text and wait for `ready`). The loop: claim
up to N due documents of this worker's model (one transaction, a lease each), cut each one into
passages (by its file's sections when it has them, so passages keep their page or headings),
embed the passages it has no vector for, the documents in hand together so the embedder can
batch them, saying how far it is on a long one, and hand them back through
complete_embedding_work, which writes them only if the lease still holds. It claims more as
places free up, or when LISTEN kb_embedding_work announces work, with polling as the fallback,
so new work is picked up within a moment and nothing depends on a notification arriving. A lost
connection (Postgres restarted) is reopened and the claims held on it are given back at once; a
dead worker's claims expire and are taken again, so nothing is lost, and the lease check means
nothing is written twice.
"""

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from knowledge_core.chunking import Passage, chunk_document
from knowledge_core.embeddings import Embedder, embed_in_batches
from knowledge_core.errors import InvalidInput, KnowledgeBaseError, PayloadTooLarge
from knowledge_core.settings import Settings
from knowledge_worker.settings import WorkerSettings

log = logging.getLogger("knowledge_worker")

CHANNEL = "kb_embedding_work"


def passage_hash(text: str) -> str:
    """md5 of the UTF-8 text, as Postgres' md5(text) computes it (an identity, not a secret)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Claim:
    document_id: UUID
    lease_token: UUID
    content: str
    attempts: int
    known_passages: frozenset[str]
    sections: Sequence[Mapping[str, Any]] | None = None


@dataclass
class Outcome:
    """What one document's turn did: for logs and tests."""

    document_id: UUID
    status: str  # embedded, lost, retrying, failed
    passages: int = 0
    embedded: int = 0


class EmbeddingWorker:
    def __init__(self, settings: Settings, worker: WorkerSettings, embedder: Embedder) -> None:
        self.settings = settings
        self.worker = worker
        self.embedder = embedder
        self.name = worker.name or f"{socket.gethostname()}:{os.getpid()}"

    @property
    def model(self) -> str:
        return self.embedder.model

    async def _connect(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        return await psycopg.AsyncConnection.connect(
            self.worker.database_url.get_secret_value(),
            autocommit=True,
            row_factory=dict_row,
            application_name="kb-worker",
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, reconnecting after any lost connection."""
        while not stop.is_set():
            try:
                async with await self._connect() as listener, await self._connect() as conn:
                    await listener.execute(f"listen {CHANNEL}")
                    # Claims this worker held on a connection that died are its own to redo.
                    released = await self.release(conn)
                    log.info(
                        "listening",
                        extra={"model": self.model, "worker": self.name, "released": released},
                    )
                    await self._work(listener, conn, stop)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                log.warning("database connection lost; reconnecting", extra={"error": str(error)})
                await _sleep_unless(stop, self.worker.reconnect_seconds)
            except psycopg.Error as error:
                # Anything else the database says (say, the migrations are not applied yet): keep
                # the process alive and try again, rather than exit into a restart loop.
                log.error("database error; retrying", extra={"error": str(error)})
                await _sleep_unless(stop, self.worker.reconnect_seconds)

    async def _work(
        self,
        listener: psycopg.AsyncConnection[dict[str, Any]],
        conn: psycopg.AsyncConnection[dict[str, Any]],
        stop: asyncio.Event,
    ) -> None:
        """Keep up to KB_WORKER_MAX_DOCUMENTS documents in hand, embedding them together (the
        embedder batches their passages: many short documents cost a few model calls, not one
        each), and claim more as soon as one is done or new work is announced: a document
        written while others are being embedded waits for a free place, not for all of them.
        A connection lost under any of them is raised here, for run() to reconnect (their
        leases bring the work back)."""
        wake = asyncio.Event()
        listening = asyncio.create_task(self._listen(listener, wake))
        stopping = asyncio.create_task(stop.wait())
        working: set[asyncio.Task[Outcome]] = set()
        try:
            while not stop.is_set():
                room = self.worker.max_documents - len(working)
                wake.clear()  # a notification from now on brings the next claim forward
                claims = await self.claim(conn, room) if room > 0 else []
                working |= {asyncio.create_task(self.process(conn, c)) for c in claims}
                if claims and len(claims) == room:
                    continue  # there may be more: claim again once a place is free
                waking = asyncio.create_task(wake.wait())
                done, _ = await asyncio.wait(
                    {*working, waking, listening, stopping},
                    timeout=self.worker.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waking.cancel()
                if listening in done:
                    listening.result()  # the listener died: raise its error
                for task in done & working:
                    working.discard(task)
                    task.result()  # a lost connection: raise it
        finally:
            for task in (listening, stopping, *working):
                task.cancel()
            await asyncio.gather(listening, stopping, *working, return_exceptions=True)

    async def _listen(
        self, listener: psycopg.AsyncConnection[dict[str, Any]], wake: asyncio.Event
    ) -> None:
        """Set `wake` on each notification for this model; a dead listener raises."""
        async for notice in listener.notifies():
            if notice.payload in ("", self.model):
                wake.set()

    async def claim(self, conn: psycopg.AsyncConnection[dict[str, Any]], count: int) -> list[Claim]:
        rows = await (
            await conn.execute(
                "select * from private.claim_embedding_work(%s, %s, %s, %s)",
                (self.model, count, self.worker.lease_seconds, self.name),
            )
        ).fetchall()
        return [
            Claim(
                document_id=row["document_id"],
                lease_token=row["lease_token"],
                content=row["content"],
                attempts=row["attempts"],
                known_passages=frozenset(row["known_passages"] or ()),
                sections=row["sections"],
            )
            for row in rows
        ]

    async def release(self, conn: psycopg.AsyncConnection[dict[str, Any]]) -> int:
        """Give back the claims recorded under this worker's name (none on a first start)."""
        row = await (
            await conn.execute(
                "select private.release_embedding_claims(%s) as released", (self.name,)
            )
        ).fetchone()
        return int(row["released"]) if row else 0

    async def renew(self, conn: psycopg.AsyncConnection[dict[str, Any]], claim: Claim) -> bool:
        """Extend the claim's lease; False when it is no longer this worker's."""
        row = await (
            await conn.execute(
                "select private.renew_embedding_lease(%s, %s, %s) as held",
                (claim.document_id, claim.lease_token, self.worker.lease_seconds),
            )
        ).fetchone()
        return bool(row and row["held"])

    async def _embed_holding_lease(
        self, conn: psycopg.AsyncConnection[dict[str, Any]], claim: Claim
    ) -> tuple[list[Passage], dict[str, list[float]]] | None:
        """Embed while renewing the lease every third of it; None if the claim was lost."""
        embedding = asyncio.ensure_future(self.embed(claim, conn))
        try:
            while True:
                done, _ = await asyncio.wait({embedding}, timeout=self.worker.lease_seconds / 3)
                if done:
                    return embedding.result()
                if not await self.renew(conn, claim):
                    return None
                log.info("lease renewed", extra={"document_id": str(claim.document_id)})
        finally:
            embedding.cancel()

    async def process(self, conn: psycopg.AsyncConnection[dict[str, Any]], claim: Claim) -> Outcome:
        """Embed one claimed document; any failure is recorded on it, never raised."""
        try:
            embedded = await self._embed_holding_lease(conn, claim)
            if embedded is None:
                log.info("claim lost", extra={"document_id": str(claim.document_id)})
                return Outcome(claim.document_id, "lost")
            passages, vectors = embedded
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except (InvalidInput, PayloadTooLarge) as error:
            # The text itself cannot be embedded: retrying would fail the same way.
            return await self.fail(conn, claim, error.message, retry=False)
        except KnowledgeBaseError as error:
            return await self.fail(conn, claim, error.message, retry=True)
        except Exception as error:
            log.exception("embedding failed", extra={"document_id": str(claim.document_id)})
            return await self.fail(conn, claim, f"{type(error).__name__}: {error}", retry=True)
        chunks = [
            {"content": p.content, "embedding": vectors.get(p.content)}
            | ({"location": p.location} if p.location else {})
            for p in passages
        ]
        try:
            row = await (
                await conn.execute(
                    "select private.complete_embedding_work(%s, %s, %s, %s) as done",
                    (claim.document_id, claim.lease_token, self.model, Jsonb(chunks)),
                )
            ).fetchone()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise  # the connection: run() reconnects, and the lease brings the work back
        except psycopg.Error as error:
            # The database refused these passages (a check): say so on the document.
            return await self.fail(
                conn, claim, f"the database refused the passages: {error}", retry=True
            )
        outcome = Outcome(
            claim.document_id,
            "embedded" if row and row["done"] else "lost",
            passages=len(passages),
            embedded=len(vectors),
        )
        log.info(
            "document %s",
            outcome.status,
            extra={
                "document_id": str(claim.document_id),
                "passages": outcome.passages,
                "embedded": outcome.embedded,
                "attempt": claim.attempts,
            },
        )
        return outcome

    async def embed(
        self, claim: Claim, conn: psycopg.AsyncConnection[dict[str, Any]]
    ) -> tuple[list[Passage], dict[str, list[float]]]:
        """The document's passages, and vectors for those not stored already (by text).

        A document of more than one batch says how far it is on itself after each batch
        (record_embedding_progress), for whoever waits on it."""
        s = self.settings
        passages = chunk_document(
            claim.content,
            claim.sections,
            size=s.chunk_size,
            overlap=s.chunk_overlap,
            max_chars=s.max_document_chars,
        )
        fresh: Sequence[str] = [
            t
            for t in dict.fromkeys(p.content for p in passages)
            if passage_hash(t) not in claim.known_passages
        ]
        kept = len(passages) - len(fresh)

        async def progress(done: int, total: int) -> None:
            await self.record_progress(conn, claim, min(kept + done, len(passages)), passages)

        long = len(fresh) > s.embedding_batch_size
        if long:
            await progress(0, len(fresh))
        vectors = await embed_in_batches(
            self.embedder,
            fresh,
            batch_size=s.embedding_batch_size,
            on_progress=progress if long else None,
        )
        return passages, dict(zip(fresh, vectors, strict=True))

    async def record_progress(
        self,
        conn: psycopg.AsyncConnection[dict[str, Any]],
        claim: Claim,
        embedded: int,
        passages: Sequence[Passage],
    ) -> None:
        await conn.execute(
            "select private.record_embedding_progress(%s, %s, %s, %s)",
            (claim.document_id, claim.lease_token, embedded, len(passages)),
        )

    async def fail(
        self,
        conn: psycopg.AsyncConnection[dict[str, Any]],
        claim: Claim,
        reason: str,
        *,
        retry: bool,
    ) -> Outcome:
        row = await (
            await conn.execute(
                "select private.fail_embedding_work(%s, %s, %s, %s) as status",
                (claim.document_id, claim.lease_token, reason, retry),
            )
        ).fetchone()
        status = str(row["status"]) if row else "lost"
        log.warning(
            "document not embedded",
            extra={"document_id": str(claim.document_id), "status": status, "reason": reason},
        )
        return Outcome(claim.document_id, status)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
