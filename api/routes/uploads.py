"""POST /v1/documents/upload: a file (PDF, DOCX, HTML, Markdown, text) becomes a document.

Only the reading differs from JSON ingest: the file is parsed in a bounded child process, cut
into passages that keep to its sections, and then stored by the same path (`documents.store`),
with the caller's token, so the same RLS, rate limits, idempotence and background jobs apply.
"""

import json
from pathlib import PurePath
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from pydantic import ValidationError

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES, described
from api.routes.documents import IngestAccepted, store
from knowledge_core.errors import InvalidInput
from knowledge_core.models import IngestResult, Metadata, NewDocument

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=ERROR_RESPONSES)


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult | IngestAccepted,
    responses={
        200: {"description": "The same text was already stored there: that document."},
        202: {"description": "A large file: accepted, processed in the background."},
        413: described(
            "The file is over MAX_UPLOAD_BYTES, its text over MAX_DOCUMENT_CHARS, it is a ZIP "
            "bomb, or reading it needed more memory or time than allowed."
        ),
        411: described("No Content-Length: an upload must say its size."),
        415: described("Not a format we read (PDF, DOCX, HTML, Markdown, plain text)."),
        422: described(
            "Invalid fields, or a file that cannot be read: encrypted or damaged PDF, a PDF "
            "without a text layer, a file with no text; `code` names which."
        ),
    },
    summary="Add a document from a file",
)
async def upload_document(
    kb: CallerKB,
    request: Request,
    response: Response,
    file: Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown or plain text.")],
    title: Annotated[
        str | None, Form(min_length=1, max_length=500, description="Default: the file's own.")
    ] = None,
    source: Annotated[
        str | None, Form(max_length=2000, description="Default: the file name.")
    ] = None,
    category: Annotated[str | None, Form(min_length=1, max_length=100)] = None,
    metadata: Annotated[
        str | None, Form(max_length=16_000, description='A JSON object, e.g. {"lang": "en"}.')
    ] = None,
    workspace_id: Annotated[UUID | None, Form()] = None,
) -> IngestResult | IngestAccepted:
    """Read a file into a document. The format is detected from the content (the name only
    tells Markdown from plain text). Each passage's `metadata` says where it is in the file:
    `page` or `pages` for a PDF, `headings` (the path of headings above it) for HTML, DOCX and
    Markdown; search results carry it as `location`, to cite."""
    extra = _metadata(metadata)
    data = await file.read(kb.settings.max_upload_bytes + 1)
    extracted = await kb.read_file(data, file.filename, file.content_type)
    name = PurePath(file.filename or "").name or None
    try:
        document = NewDocument(
            title=(title or extracted.title or (PurePath(name).stem if name else "") or "Untitled")[
                :500
            ],
            content=extracted.text,
            source=source if source is not None else name,
            category=category,
            metadata={
                **extra,
                "file": {"name": name, "format": extracted.format, "bytes": len(data)},
            },
            workspace_id=workspace_id,
        )
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise InvalidInput(f"{field}: {problem['msg']}", field=field) from error
    return await store(kb, document, kb.chunk_file(extracted), request, response)


def _metadata(value: str | None) -> Metadata:
    if value is None or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise InvalidInput("metadata must be a JSON object", field="metadata") from error
    if not isinstance(parsed, dict):
        raise InvalidInput("metadata must be a JSON object", field="metadata")
    return parsed
