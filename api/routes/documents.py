"""/v1/documents: add, list, read, change and delete documents."""

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from knowledge_core.chunking import Passage
from knowledge_core.errors import InvalidInput, KnowledgeBaseError
from knowledge_core.knowledge import CallerKnowledge
from knowledge_core.models import DocumentChanges, IngestResult, NewDocument

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=ERROR_RESPONSES)
log = logging.getLogger("api.ingest")


class IngestAccepted(BaseModel):
    job_id: UUID
    status: str = "pending"
    status_url: str = Field(examples=["/v1/jobs/0b6d..."])


class DocumentPage(BaseModel):
    items: list[dict[str, Any]]
    total: int | None
    limit: int
    offset: int


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult | IngestAccepted,
    responses={
        200: {"description": "The same text was already stored there: that document."},
        202: {"description": "A large document: accepted, processed in the background."},
    },
    summary="Add a document",
)
async def add_document(
    document: NewDocument, kb: CallerKB, request: Request, response: Response
) -> IngestResult | IngestAccepted:
    """Chunk, embed and store a document atomically. Small documents are stored before the
    answer (201, or 200 when the same text already exists there); large ones are accepted with
    202 and a job to poll. A failure never leaves part of a document behind."""
    return await store(kb, document, kb.chunk(document.content), request, response)


async def store(
    kb: CallerKnowledge,
    document: NewDocument,
    chunks: Sequence[str | Passage],
    request: Request,
    response: Response,
) -> IngestResult | IngestAccepted:
    """The one write path of JSON and file ingest: stored now (201/200) or in the background
    (202 and a job), always through the caller's token, so RLS and rate limits apply alike."""
    if len(document.content) <= kb.settings.background_threshold_chars:
        result = await kb.add_document(document, chunks=chunks)
        if not result.created:
            response.status_code = status.HTTP_200_OK
        return result
    job = await kb.create_job(document.title, len(chunks))
    tasks: set[asyncio.Task[None]] = request.app.state.background_tasks
    task = asyncio.create_task(_ingest_in_background(kb, document, chunks, job["id"]))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    response.status_code = status.HTTP_202_ACCEPTED
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return IngestAccepted(job_id=job["id"], status_url=f"/v1/jobs/{job['id']}")


async def _ingest_in_background(
    kb: CallerKnowledge, document: NewDocument, chunks: Sequence[str | Passage], job_id: str
) -> None:
    """Runs with the caller's token, so RLS applies exactly as for a direct request."""

    async def progress(done: int, total: int) -> None:
        await kb.update_job(job_id, chunks_embedded=done)

    try:
        await kb.update_job(job_id, status="processing")
        result = await kb.add_document(document, chunks=chunks, on_progress=progress)
        await kb.update_job(job_id, status="succeeded", document_id=str(result.document_id))
    except KnowledgeBaseError as error:
        log.warning("background ingest failed", extra={"job_id": job_id, "reason": error.message})
        await _record_failure(kb, job_id, error.message)
    except Exception:
        log.exception("background ingest failed", extra={"job_id": job_id})
        await _record_failure(kb, job_id, "an internal error occurred")


async def _record_failure(kb: CallerKnowledge, job_id: str, message: str) -> None:
    try:
        await kb.update_job(job_id, status="failed", error=message[:2000])
    except KnowledgeBaseError:
        log.warning("could not record the failure of a job", extra={"job_id": job_id})


@router.get("", response_model=DocumentPage, summary="List documents")
async def list_documents(
    kb: CallerKB,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    workspace_id: UUID | None = None,
    metadata: Annotated[
        str | None,
        Query(
            description='JSON object the metadata must contain, e.g. {"lang":"en"}', max_length=4000
        ),
    ] = None,
) -> DocumentPage:
    """Documents you may read (yours and your workspaces'), newest first."""
    wanted: dict[str, Any] | None = None
    if metadata is not None:
        try:
            wanted = json.loads(metadata)
        except ValueError as error:
            raise InvalidInput("metadata must be a JSON object", field="metadata") from error
        if not isinstance(wanted, dict):
            raise InvalidInput("metadata must be a JSON object", field="metadata")
    items, total = await kb.list_documents(
        limit=limit,
        offset=offset,
        category=category,
        workspace_id=workspace_id,
        metadata=wanted,
    )
    return DocumentPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{document_id}", summary="Read a document with its passages")
async def get_document(document_id: UUID, kb: CallerKB) -> dict[str, Any]:
    return await kb.get_document(document_id)


@router.patch("/{document_id}", summary="Change a document")
async def update_document(
    document_id: UUID, changes: DocumentChanges, kb: CallerKB
) -> dict[str, Any]:
    """Change fields; new `content` re-embeds only the passages that changed."""
    return await kb.update_document(document_id, changes)


@router.delete(
    "/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a document and its passages",
)
async def delete_document(document_id: UUID, kb: CallerKB) -> None:
    await kb.delete_document(document_id)
