"""What the edge does for a caller: ingest, search, read, change and delete documents.

Each operation is text handling (chunking, embedding) plus calls to PostgREST with the caller's
token. Access rules are not repeated here: RLS answers, and its refusals come back as errors.
"""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from knowledge_core.chunking import Passage, chunk_sections, chunk_text
from knowledge_core.embeddings import Embedder, QueryEmbeddingCache, embed_in_batches
from knowledge_core.errors import (
    FileRejected,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from knowledge_core.extraction import Extracted, ExtractionFailed, detect_format, extract_file
from knowledge_core.models import DocumentChanges, IngestResult, NewDocument, SearchHit, SearchQuery
from knowledge_core.rest import CallerRest, RestPool
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller

Progress = Callable[[int, int], Awaitable[None]]

# Not the text itself: lists stay small; a document's passages carry its text.
DOCUMENT_COLUMNS = (
    "id,owner_id,workspace_id,title,source,category,metadata,content_hash,embedding_model,"
    "embedding_status,embedding_error,created_at,updated_at"
)
PASSAGE_COLUMNS = "id,chunk_index,content,location"


# The keys of a chunk's metadata that say where it is in its file (see chunk_sections).
LOCATION_KEYS = ("page", "pages", "headings")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Knowledge:
    """Process-wide parts (connection pool, embedder, query cache), shared by all callers."""

    def __init__(self, settings: Settings, rest: RestPool, embedder: Embedder) -> None:
        self.settings = settings
        self.rest = rest
        self.embedder = embedder
        self.query_cache = QueryEmbeddingCache(embedder, settings.embedding_cache_size)
        # Parses of uploaded files running at once in this process (see extraction.runner).
        self.extraction_slots = asyncio.Semaphore(settings.extraction_concurrency)

    def for_caller(self, caller: Caller, request_id: str | None = None) -> "CallerKnowledge":
        return CallerKnowledge(self, self.rest.bind(caller, request_id))

    async def aclose(self) -> None:
        await self.rest.aclose()
        await self.embedder.aclose()


class CallerKnowledge:
    def __init__(self, knowledge: Knowledge, rest: CallerRest) -> None:
        self.knowledge = knowledge
        self.settings = knowledge.settings
        self.rest = rest
        self.token = rest.caller.token

    def chunk(self, text: str) -> list[str]:
        s = self.settings
        return chunk_text(
            text, size=s.chunk_size, overlap=s.chunk_overlap, max_chars=s.max_document_chars
        )

    def chunk_file(self, extracted: Extracted) -> list[Passage]:
        """Passages that keep to the file's sections and carry their location."""
        s = self.settings
        return chunk_sections(
            extracted.sections,
            size=s.chunk_size,
            overlap=s.chunk_overlap,
            max_chars=s.max_document_chars,
        )

    async def read_file(
        self, data: bytes, filename: str | None, content_type: str | None
    ) -> Extracted:
        """The file's text and structure, parsed in a bounded child process; a file that cannot
        be read whole is refused with the reason, never stored in part."""
        s = self.settings
        if len(data) > s.max_upload_bytes:
            raise PayloadTooLarge(
                f"the file has {len(data)} bytes; the limit (MAX_UPLOAD_BYTES) is "
                f"{s.max_upload_bytes}",
                field="file",
            )
        try:
            kind = detect_format(data, filename, content_type)
            return await extract_file(
                data,
                kind,
                timeout_seconds=s.extraction_timeout_seconds,
                memory_mb=s.extraction_memory_mb,
                max_chars=s.max_document_chars,
                slots=self.knowledge.extraction_slots,
            )
        except ExtractionFailed as failure:
            if failure.status == 415:
                raise UnsupportedMediaType(failure.message, field="file") from failure
            raise FileRejected(failure.message, code=failure.code, status=failure.status) from None

    async def add_document(
        self,
        document: NewDocument,
        *,
        on_progress: Progress | None = None,
        chunks: Sequence[str | Passage] | None = None,
    ) -> IngestResult:
        """Chunk, embed in batches, then store document and chunks in one transaction."""
        given = chunks if chunks is not None else self.chunk(document.content)
        passages = [p if isinstance(p, Passage) else Passage(p) for p in given]
        embedder = self.knowledge.embedder
        vectors = await embed_in_batches(
            embedder,
            [p.content for p in passages],
            batch_size=self.settings.embedding_batch_size,
            token=self.token,
            on_progress=on_progress,
        )
        rows = await self.rest.rpc(
            "ingest_document",
            {
                "title": document.title,
                "content_hash": content_hash(document.content),
                "embedding_model": embedder.model,
                "source": document.source,
                "category": document.category,
                "metadata": document.metadata,
                "workspace_id": str(document.workspace_id) if document.workspace_id else None,
                # Kept with the document, so it can be re-embedded from source (a new model).
                "content": document.content,
                "chunks": [
                    {"content": p.content, "embedding": v}
                    | ({"location": p.location} if p.location else {})
                    for p, v in zip(passages, vectors, strict=True)
                ],
            },
        )
        row = rows[0]
        return IngestResult(
            document_id=row["document_id"],
            created=row["created"],
            chunk_count=row["chunk_count"],
            embedding_model=embedder.model,
        )

    async def search(self, query: SearchQuery) -> list[SearchHit]:
        filters: dict[str, Any] = {
            "match_count": query.k,
            "filter": query.metadata,
            "filter_category": query.category,
            "filter_workspace_id": str(query.workspace_id) if query.workspace_id else None,
            # Never compare vectors of different models (nor mix their passages in one list).
            "filter_embedding_model": self.knowledge.embedder.model,
        }
        by_document = query.group_by == "document"
        if query.mode == "keyword":
            # No vector involved: the query is not embedded.
            arguments = {"query_text": query.query, **filters}
            if by_document:
                arguments["group_by_document"] = True
            rows = await self.rest.search("keyword_search", arguments)
            return [_hit(r, score=r["score"]) for r in rows]
        vector = await self.knowledge.query_cache.embed_query(query.query, token=self.token)
        common = {"query_embedding": vector, **filters}
        if query.mode == "hybrid" or by_document:
            arguments = {"query_text": query.query, **common}
            if by_document:
                arguments["group_by_document"] = True
            if query.mode == "semantic":
                # Documents by their best passage, semantic only: hybrid_search with its keyword
                # side off (one place groups passages into documents).
                arguments["full_text_weight"] = 0
            rows = await self.rest.search("hybrid_search", arguments)
            if query.threshold is not None:
                rows = [r for r in rows if r["similarity"] >= query.threshold]
            key = "score" if query.mode == "hybrid" else "similarity"
            return [_hit(r, score=r[key]) for r in rows]
        rows = await self.rest.search(
            "match_documents", {**common, "match_threshold": query.threshold}
        )
        return [_hit(r, score=r["similarity"]) for r in rows]

    async def get_document(self, document_id: UUID) -> dict[str, Any]:
        """The document and its passages from one statement: two requests could read the
        document before the worker's commit and its passages after it."""
        rows, _ = await self.rest.select(
            "documents",
            {
                "id": f"eq.{document_id}",
                "select": f"{DOCUMENT_COLUMNS},chunks:document_chunks({PASSAGE_COLUMNS})",
                "chunks.order": "chunk_index",
            },
        )
        if not rows:
            raise NotFound(f"document {document_id} does not exist or is not yours to see")
        return rows[0]

    async def list_documents(
        self,
        *,
        limit: int,
        offset: int,
        category: str | None = None,
        workspace_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], int | None]:
        params = {
            "select": DOCUMENT_COLUMNS,
            "order": "created_at.desc,id",
            "limit": str(limit),
            "offset": str(offset),
        }
        if category is not None:
            params["category"] = f"eq.{category}"
        if workspace_id is not None:
            params["workspace_id"] = f"eq.{workspace_id}"
        if metadata:
            params["metadata"] = f"cs.{json.dumps(metadata)}"
        return await self.rest.select("documents", params, count=True)

    async def update_document(self, document_id: UUID, changes: DocumentChanges) -> dict[str, Any]:
        current = await self.get_document(document_id)
        fields = changes.model_dump(exclude_unset=True, exclude={"content"}, mode="json")
        if changes.content is not None:
            await self._replace_content(current, changes.content)
        if fields:
            updated = await self.rest.update("documents", {"id": f"eq.{document_id}"}, fields)
            if not updated:
                # Visible (we just read it) yet RLS let no row change: read-only for this caller.
                raise Forbidden(f"you may read document {document_id} but not change it")
        return await self.get_document(document_id)

    async def _replace_content(self, current: dict[str, Any], text: str) -> None:
        model = self.knowledge.embedder.model
        if current["embedding_model"] != model:
            # Passages of two models never mix in one document: the new text is stored, and
            # the embedding worker re-embeds it whole with the project's model (the document
            # is `pending` meanwhile and keeps answering searches with its old passages).
            updated = await self.rest.update(
                "documents", {"id": f"eq.{current['id']}"}, {"content": text}
            )
            if not updated:
                raise Forbidden(f"you may read document {current['id']} but not change it")
            return
        passages = self.chunk(text)
        stored = {chunk["content"] for chunk in current["chunks"]}
        fresh = [p for p in dict.fromkeys(passages) if p not in stored]
        vectors = dict(
            zip(
                fresh,
                await embed_in_batches(
                    self.knowledge.embedder,
                    fresh,
                    batch_size=self.settings.embedding_batch_size,
                    token=self.token,
                ),
                strict=True,
            )
        )
        await self.rest.rpc(
            "replace_document_chunks",
            {
                "document_id": current["id"],
                "content_hash": content_hash(text),
                "content": text,
                "chunks": [{"content": p, "embedding": vectors.get(p)} for p in passages],
            },
        )

    async def delete_document(self, document_id: UUID) -> None:
        deleted = await self.rest.delete("documents", {"id": f"eq.{document_id}"})
        if not deleted:
            await self.get_document(document_id)  # NotFound if the caller cannot even see it
            raise Forbidden(f"you may read document {document_id} but not delete it")

    # -- background ingest jobs (rows in ingest_jobs, visible to their owner only) ----------
    async def create_job(self, title: str, chunks_total: int) -> dict[str, Any]:
        return await self.rest.insert("ingest_jobs", {"title": title, "chunks_total": chunks_total})

    async def update_job(self, job_id: UUID | str, **values: Any) -> None:
        await self.rest.update("ingest_jobs", {"id": f"eq.{job_id}"}, values)

    async def get_job(self, job_id: UUID) -> dict[str, Any]:
        rows, _ = await self.rest.select("ingest_jobs", {"id": f"eq.{job_id}"})
        if not rows:
            raise NotFound(f"ingest job {job_id} does not exist or is not yours to see")
        return rows[0]


def _hit(row: dict[str, Any], *, score: float) -> SearchHit:
    return SearchHit(
        chunk_id=row["id"],
        document_id=row["document_id"],
        chunk_index=row["chunk_index"],
        title=row["title"],
        source=row["source"],
        category=row["category"],
        workspace_id=row["workspace_id"],
        content=row["content"],
        metadata=row["metadata"],
        location={k: row["metadata"][k] for k in LOCATION_KEYS if k in row["metadata"]},
        similarity=row["similarity"],
        score=score,
        embedding_model=row["embedding_model"],
    )
