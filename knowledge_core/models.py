"""The shapes the edge accepts and returns: one model per resource, used by the API and the MCP
server alike (the MCP server adds only what is its own: resource URIs and the data notice).

Bounds come from knowledge_core.limits, so an over-long title or a k of 500 is refused with the
field's name before any model call or database round trip, the same way at every door.
"""

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, JsonValue, field_validator, model_validator

from knowledge_core import limits
from knowledge_core.limits import GroupBy, SearchMode, WorkspaceRole

Metadata = dict[str, JsonValue]
EmbeddingStatus = Literal["pending", "ready", "failed"]

# Each bounded value once, for the models below and the MCP tools' parameters alike (a door adds
# its own description; the bounds stay these).
Title = Annotated[str, Field(min_length=1, max_length=limits.MAX_TITLE_CHARS)]
Content = Annotated[str, Field(min_length=1, max_length=limits.MAX_DOCUMENT_CHARS)]
Source = Annotated[str, Field(max_length=limits.MAX_SOURCE_CHARS)]
Category = Annotated[str, Field(min_length=1, max_length=limits.MAX_CATEGORY_CHARS)]
QueryText = Annotated[str, Field(min_length=1, max_length=limits.MAX_QUERY_CHARS)]
K = Annotated[int, Field(ge=1, le=limits.MAX_K)]
Threshold = Annotated[float, Field(ge=limits.MIN_THRESHOLD, le=limits.MAX_THRESHOLD)]
MetadataFilter = Annotated[Metadata, Field(max_length=limits.MAX_METADATA_KEYS)]
PageSize = Annotated[int, Field(ge=1, le=limits.MAX_PAGE_SIZE)]
Offset = Annotated[int, Field(ge=0, le=limits.MAX_OFFSET)]
WaitSeconds = Annotated[float, Field(ge=0, le=limits.MAX_WAIT_SECONDS)]
WAIT_DESCRIPTION = (
    "Seconds to wait until the document is searchable (ready) before answering; default "
    f"{limits.DEFAULT_WAIT_SECONDS:g} for documents up to BACKGROUND_THRESHOLD_CHARS "
    "characters, 0 for larger ones. Past it the answer says `pending`."
)


def _metadata_size(value: Metadata) -> Metadata:
    if len(json.dumps(value)) > limits.MAX_METADATA_CHARS:
        raise ValueError(f"metadata must be at most {limits.MAX_METADATA_CHARS} characters of JSON")
    return value


class SectionSpan(BaseModel):
    """One section of a file's text: `chars` characters of `content` (Unicode code points), at
    a `page` (PDF) or under a `headings` path (HTML, DOCX, Markdown). Consecutive sections are
    joined by one blank line ("\\n\\n")."""

    chars: int = Field(ge=0, le=limits.MAX_DOCUMENT_CHARS)
    page: int | None = Field(default=None, ge=1)
    headings: list[str] | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _one_place(self) -> "SectionSpan":
        if self.page is not None and self.headings is not None:
            raise ValueError("a section has a page or headings, not both")
        return self


Sections = list[SectionSpan]


def _check_layout(content: str | None, sections: Sections | None) -> None:
    """The database refuses a layout that does not add up to its text (30_documents.sql,
    private.sections_fit); said here first, so the answer names the field."""
    if sections is None:
        return
    if content is None:
        raise ValueError("sections describe content: send them with it")
    described = sum(s.chars for s in sections) + 2 * (len(sections) - 1)
    if not sections or described != len(content):
        raise ValueError(
            f"sections: their chars joined by blank lines make {described} characters; "
            f"content has {len(content)}"
        )


SECTIONS_DESCRIPTION = (
    "How `content` divides into a file's sections, so that passages keep to them and cite "
    "their page or headings: a list of {chars, page} or {chars, headings}, whose chars joined "
    "by blank lines add up to the text. Omit for plain text."
)


class NewDocument(BaseModel):
    title: Title = Field(examples=["Onboarding guide"])
    content: Content = Field(description="The document's text (Markdown or plain).")
    source: Source | None = Field(default=None, examples=["handbook/onboarding.md"])
    category: Category | None = Field(default=None, examples=["guides"])
    metadata: Metadata = Field(default_factory=dict, examples=[{"lang": "en"}])
    workspace_id: UUID | None = Field(
        default=None, description="Share with this workspace (you must be its owner or editor)."
    )
    sections: Sections | None = Field(
        default=None, max_length=100_000, description=SECTIONS_DESCRIPTION
    )

    _check_metadata = field_validator("metadata")(_metadata_size)

    @model_validator(mode="after")
    def _layout_fits(self) -> "NewDocument":
        _check_layout(self.content, self.sections)
        return self


class DocumentChanges(BaseModel):
    """Fields to change; new `content` is embedded again (only the passages that changed)."""

    title: Title | None = None
    content: Content | None = None
    source: Source | None = None
    category: Category | None = None
    metadata: Metadata | None = None
    workspace_id: UUID | None = None
    sections: Sections | None = Field(
        default=None,
        max_length=100_000,
        description="With new `content`: its file's layout (see NewDocument). New content "
        "without it is plain text.",
    )

    _check_metadata = field_validator("metadata")(
        lambda value: None if value is None else _metadata_size(value)
    )

    @model_validator(mode="after")
    def _layout_fits(self) -> "DocumentChanges":
        _check_layout(self.content, self.sections)
        return self


class SearchQuery(BaseModel):
    query: QueryText = Field(examples=["How do I reset my password?"])
    k: K = Field(default=limits.DEFAULT_K, description="How many results to return.")
    threshold: Threshold | None = Field(
        default=None,
        description="Minimum cosine similarity of a passage to the query (semantic and hybrid "
        "modes).",
    )
    metadata: MetadataFilter = Field(
        default_factory=dict, description="Metadata the document contains."
    )
    category: Category | None = None
    workspace_id: UUID | None = None
    mode: SearchMode = Field(
        default=limits.DEFAULT_MODE,
        description="'semantic' ranks by meaning (vectors); 'keyword' by the query's words "
        "(BM25: any of them, rare words weigh more); 'hybrid' fuses both.",
    )
    group_by: GroupBy = Field(
        default=limits.DEFAULT_GROUP_BY,
        description="'passage': the best passages, several may come from one document; "
        "'document': the best documents, each once, ranked by its best passage (that passage "
        "is the result).",
    )

    _check_metadata = field_validator("metadata")(_metadata_size)

    @model_validator(mode="after")
    def _threshold_needs_vectors(self) -> "SearchQuery":
        if self.mode == "keyword" and self.threshold is not None:
            raise ValueError("threshold is a similarity: it applies to semantic and hybrid modes")
        return self


# -- what comes back ---------------------------------------------------------------------------
LOCATION_DESCRIPTION = (
    'Where the passage is in its file, to cite it: {"page": 12} or {"pages": [3, 4]} (PDF), '
    '{"headings": ["Setup", "Keys"]} (HTML, DOCX, Markdown); empty for plain text.'
)


class SearchHit(BaseModel):
    chunk_id: int
    document_id: UUID
    chunk_index: int
    title: str
    source: str | None
    category: str | None
    workspace_id: UUID | None
    content: str
    metadata: dict[str, Any]
    location: dict[str, Any] = Field(default_factory=dict, description=LOCATION_DESCRIPTION)
    similarity: float | None = Field(
        description="Cosine similarity of query and passage (-1..1); null in keyword mode."
    )
    score: float = Field(
        description="Ranking score: the similarity (semantic), BM25 (keyword), or the fused "
        "score, 0..1 (hybrid)."
    )
    embedding_model: str


class SearchResults(BaseModel):
    mode: SearchMode
    embedding_model: str
    results: list[SearchHit]


class DocumentStatus(BaseModel):
    """Whether a document's passages match its text: what a writer waits for."""

    document_id: UUID
    embedding_status: EmbeddingStatus = Field(
        description="pending: its passages are being made (new text, or a new model); ready: "
        "searchable; failed: embedding_error says why."
    )
    embedding_error: str | None = None
    embedding_model: str
    passages_embedded: int | None = Field(
        default=None, description="Passages of the current text embedded so far."
    )
    passages_total: int | None = Field(
        default=None, description="Passages the current text makes; null until it is chunked."
    )


class IngestResult(DocumentStatus):
    created: bool = Field(description="False when the same text was already stored there.")


class Document(BaseModel):
    """A document's fields, without its text (lists stay small)."""

    id: UUID
    owner_id: UUID
    workspace_id: UUID | None
    title: str
    source: str | None
    category: str | None
    metadata: dict[str, Any]
    content_hash: str = Field(description="sha256 of the text, hex.")
    embedding_model: str
    embedding_status: EmbeddingStatus = Field(
        description="pending: its passages are being embedded (new text or a new model); "
        "ready; failed: embedding_error says why."
    )
    embedding_error: str | None = None
    passages_embedded: int | None = None
    passages_total: int | None = None
    created_at: datetime
    updated_at: datetime


class DocumentPassage(BaseModel):
    chunk_id: int
    chunk_index: int
    location: dict[str, Any] = Field(default_factory=dict, description=LOCATION_DESCRIPTION)
    content: str


class DocumentDetail(Document):
    """A document with its text, its file's layout and its passages, in order."""

    content: str | None = Field(description="The document's text.")
    sections: Sections | None = Field(default=None, description=SECTIONS_DESCRIPTION)
    passages: list[DocumentPassage] = Field(
        description="Its passages in order; consecutive ones may overlap a little."
    )


class DocumentPage(BaseModel):
    items: list[Document]
    total: int | None = Field(description="How many documents you may read that match.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null at the end.")


class NewWorkspace(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=limits.MAX_WORKSPACE_NAME_CHARS)] = Field(
        examples=["Support team"]
    )


class Workspace(BaseModel):
    id: UUID
    name: str
    role: WorkspaceRole = Field(description="Your role in it.")
    created_at: datetime


class MemberRole(BaseModel):
    role: WorkspaceRole = Field(
        description="owner: everything, members too; editor: add and change documents; "
        "viewer: read."
    )


class WorkspaceMember(MemberRole):
    workspace_id: UUID
    user_id: UUID
    created_at: datetime


class Invitation(MemberRole):
    """A seat an owner offered: its invitee becomes a member by accepting it."""

    workspace_id: UUID
    workspace_name: str | None = Field(
        default=None, description="The workspace's name (shown to its invitee)."
    )
    invitee_id: UUID
    invited_by: UUID | None
    created_at: datetime
