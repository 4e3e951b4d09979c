"""Files (PDF, DOCX, HTML, Markdown, text) become documents: POST /v1/documents/upload adds one,
PUT /v1/documents/{id}/file gives a document a file's new version.

Only the reading differs from JSON ingest: the file is parsed in a bounded child process into its
text and its sections (pages, the text under each heading), and then stored by the same write as
JSON (`documents.store`), with the caller's token, so the same RLS, rate limits, idempotence and
waiting apply. The embedding worker cuts the passages by those sections, so each one cites its
page or headings.
"""

import hashlib
import json
from pathlib import PurePath
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from pydantic import ValidationError

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES, described
from api.responses import model_response
from api.routes.documents import WRITE_ANSWERS, Wait, store, written
from knowledge_core import limits
from knowledge_core.errors import InvalidInput
from knowledge_core.knowledge import CallerKnowledge
from knowledge_core.models import (
    DocumentChanges,
    DocumentStatus,
    IngestResult,
    Metadata,
    NewDocument,
)

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=ERROR_RESPONSES)

FILE_ANSWERS: dict[int | str, dict[str, Any]] = {
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
}

FileField = Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown or plain text.")]
TitleField = Annotated[
    str | None,
    Form(min_length=1, max_length=limits.MAX_TITLE_CHARS, description="Default: the file's own."),
]
SourceField = Annotated[
    str | None, Form(max_length=limits.MAX_SOURCE_CHARS, description="Default: the file name.")
]
CategoryField = Annotated[str | None, Form(min_length=1, max_length=limits.MAX_CATEGORY_CHARS)]
MetadataField = Annotated[
    str | None,
    Form(
        max_length=limits.MAX_METADATA_CHARS,
        description='A JSON object, e.g. {"lang": "en"}; the file\'s name, format, size and '
        "sha256 are added under `file`.",
    ),
]


@router.post(
    "/upload",
    status_code=status.HTTP_201_CREATED,
    response_model=IngestResult,
    responses={**WRITE_ANSWERS, **FILE_ANSWERS},
    summary="Add a document from a file",
)
async def upload_document(
    kb: CallerKB,
    file: FileField,
    title: TitleField = None,
    source: SourceField = None,
    category: CategoryField = None,
    metadata: MetadataField = None,
    workspace_id: Annotated[UUID | None, Form()] = None,
    wait: Wait = None,
) -> Response:
    """Read a file into a document. The format is detected from the content (the name only
    tells Markdown from plain text). Each passage's `location` says where it is in the file:
    `page` or `pages` for a PDF, `headings` (the path of headings above it) for HTML, DOCX and
    Markdown; search results carry it, to cite. Answers as adding a document does."""
    document = await _document(kb, file, title, source, category, metadata, workspace_id)
    return await store(kb, document, wait)


@router.put(
    "/{document_id}/file",
    response_model=DocumentStatus,
    responses={
        200: {"description": "The document holds the file's text and is searchable."},
        202: WRITE_ANSWERS[202],
        **FILE_ANSWERS,
    },
    summary="Replace a document's text with a file's",
)
async def replace_file(
    document_id: UUID,
    kb: CallerKB,
    file: FileField,
    title: TitleField = None,
    source: SourceField = None,
    category: CategoryField = None,
    metadata: MetadataField = None,
    wait: Wait = None,
) -> Response:
    """A new version of the file a document was made from (`kb sync` uses it): the document
    keeps its id and takes the file's text and sections, and the worker embeds only the
    passages that changed. `title`, `source` and `category` keep their values unless sent;
    `metadata` becomes what is sent, with the new file described under `file`."""
    document = await _document(kb, file, title, source, category, metadata, None)
    changes = DocumentChanges(
        content=document.content, sections=document.sections, metadata=document.metadata
    )
    # Fields not sent keep their values (unset fields are left alone).
    for field, value in (("title", title), ("source", source), ("category", category)):
        if value is not None:
            setattr(changes, field, value)
    detail = await kb.update_document(document_id, changes, wait=wait)
    result = DocumentStatus(document_id=detail.id, **detail.model_dump(include=_STATUS_FIELDS))
    if result.embedding_status == "pending":
        return written(result, created=False)
    return model_response(result)


_STATUS_FIELDS = {
    "embedding_status",
    "embedding_error",
    "embedding_model",
    "passages_embedded",
    "passages_total",
}


async def _document(
    kb: CallerKnowledge,
    file: UploadFile,
    title: str | None,
    source: str | None,
    category: str | None,
    metadata: str | None,
    workspace_id: UUID | None,
) -> NewDocument:
    """The document a file makes, or a 4xx naming the problem (nothing is stored before)."""
    extra = _metadata(metadata)
    data = await file.read(kb.settings.max_upload_bytes + 1)
    extracted = await kb.read_file(data, file.filename, file.content_type)
    name = PurePath(file.filename or "").name or None
    described_file = {
        "name": name,
        "format": extracted.format,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    try:
        return kb.document_from_file(
            extracted,
            title=title,
            file_name=name,
            source=source if source is not None else name,
            category=category,
            metadata={**extra, "file": described_file},
            workspace_id=workspace_id,
        )
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(p) for p in problem["loc"])
        raise InvalidInput(f"{field}: {problem['msg']}", field=field) from error


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
