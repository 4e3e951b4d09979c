"""/v1/documents: add, list, read, change and delete documents, and follow their embedding."""

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from api.responses import model_response
from knowledge_core import limits
from knowledge_core.errors import InvalidInput
from knowledge_core.knowledge import CallerKnowledge
from knowledge_core.models import (
    WAIT_DESCRIPTION,
    DocumentChanges,
    DocumentDetail,
    DocumentPage,
    DocumentStatus,
    IngestResult,
    NewDocument,
)

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=ERROR_RESPONSES)

# Query parameters state their bounds in Query(): FastAPI reads one marker per parameter.
Wait = Annotated[
    float | None, Query(ge=0, le=limits.MAX_WAIT_SECONDS, description=WAIT_DESCRIPTION)
]
WRITE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The same text was already stored there: that document."},
    202: {
        "description": "Stored, and not yet searchable when the wait ended (a large document, "
        "or wait=0): `embedding_status` is pending; follow it at the `Location` URL."
    },
}


def status_url(document_id: UUID | str) -> str:
    return f"/v1/documents/{document_id}/status"


async def store(kb: CallerKnowledge, document: NewDocument, wait: float | None) -> Response:
    """The one write of JSON and file ingest: the caller's token stores the text (RLS and the
    rate limit apply), the database queues it, the worker embeds it; the answer waits for that
    up to `wait` seconds. 201 (200: the same text was there already) once searchable; 202 with
    the status URL while still pending; a failed embedding is told in the body."""
    result = await kb.add_document(document, wait=wait)
    return written(result, created=result.created)


def written(result: DocumentStatus, *, created: bool) -> Response:
    if result.embedding_status == "pending":
        answer = model_response(result, status.HTTP_202_ACCEPTED)
        answer.headers["Location"] = status_url(result.document_id)
        return answer
    answer = model_response(result, status.HTTP_201_CREATED if created else status.HTTP_200_OK)
    if created:
        answer.headers["Location"] = f"/v1/documents/{result.document_id}"
    return answer


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult,
    responses=WRITE_ANSWERS,
    summary="Add a document",
)
async def add_document(document: NewDocument, kb: CallerKB, wait: Wait = None) -> Response:
    """Store a document's text. The database queues it and the embedding worker cuts it into
    passages and embeds them; the answer waits until it is searchable (201, or 200 when the
    same text already exists there), up to `wait` seconds, else 202 with its status URL. A
    refused or invalid write stores nothing."""
    return await store(kb, document, wait)


@router.get("", response_model=DocumentPage, summary="List documents")
async def list_documents(
    kb: CallerKB,
    limit: Annotated[int, Query(ge=1, le=limits.MAX_PAGE_SIZE)] = limits.DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=limits.MAX_OFFSET)] = 0,
    category: Annotated[
        str | None, Query(min_length=1, max_length=limits.MAX_CATEGORY_CHARS)
    ] = None,
    workspace_id: UUID | None = None,
    source: Annotated[
        str | None,
        Query(
            max_length=limits.MAX_SOURCE_CHARS,
            description="Only documents from this source (exact match).",
        ),
    ] = None,
    metadata: Annotated[
        str | None,
        Query(
            description='JSON object the metadata must contain, e.g. {"lang":"en"}',
            max_length=limits.MAX_METADATA_CHARS,
        ),
    ] = None,
) -> Response:
    """Documents you may read (yours and your workspaces'), newest first, without their text."""
    wanted: dict[str, Any] | None = None
    if metadata is not None:
        try:
            wanted = json.loads(metadata)
        except ValueError as error:
            raise InvalidInput("metadata must be a JSON object", field="metadata") from error
        if not isinstance(wanted, dict):
            raise InvalidInput("metadata must be a JSON object", field="metadata")
    page = await kb.list_documents(
        limit=limit,
        offset=offset,
        category=category,
        workspace_id=workspace_id,
        metadata=wanted,
        source=source,
    )
    return model_response(page)


@router.get(
    "/{document_id}", response_model=DocumentDetail, summary="Read a document with its passages"
)
async def get_document(document_id: UUID, kb: CallerKB) -> Response:
    """Its fields, its text, its file's layout and its passages with their locations."""
    return model_response(await kb.get_document(document_id))


@router.get(
    "/{document_id}/status",
    response_model=DocumentStatus,
    summary="Follow a document's embedding",
)
async def get_status(document_id: UUID, kb: CallerKB) -> Response:
    """pending (with passages embedded of total, once the worker has cut it), ready, or
    failed with the reason. What a 202 points to."""
    return model_response(await kb.document_status(document_id, primary=True))


@router.patch("/{document_id}", response_model=DocumentDetail, summary="Change a document")
async def update_document(
    document_id: UUID, changes: DocumentChanges, kb: CallerKB, wait: Wait = None
) -> Response:
    """Change fields. New `content` is embedded again by the worker, which keeps the vectors of
    passages that did not change; the answer waits for it like a new document's."""
    return model_response(await kb.update_document(document_id, changes, wait=wait))


@router.delete(
    "/{document_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a document and its passages",
)
async def delete_document(document_id: UUID, kb: CallerKB) -> None:
    await kb.delete_document(document_id)
