"""The shapes the edge accepts and returns, shared by the API and the MCP server.

Bounds live here once, so an over-long title or a k of 500 is refused with the field's name
before any model call or database round trip.
"""

import json
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, JsonValue, field_validator, model_validator

Metadata = dict[str, JsonValue]
SearchMode = Literal["semantic", "hybrid", "keyword"]
GroupBy = Literal["passage", "document"]


def _metadata_size(value: Metadata) -> Metadata:
    if len(json.dumps(value)) > 16_000:
        raise ValueError("metadata must be at most 16000 characters of JSON")
    return value


class NewDocument(BaseModel):
    title: str = Field(min_length=1, max_length=500, examples=["Onboarding guide"])
    content: str = Field(min_length=1, description="The document's text (Markdown or plain).")
    source: str | None = Field(default=None, max_length=2000, examples=["handbook/onboarding.md"])
    category: str | None = Field(default=None, min_length=1, max_length=100, examples=["guides"])
    metadata: Metadata = Field(default_factory=dict, examples=[{"lang": "en"}])
    workspace_id: UUID | None = Field(
        default=None, description="Share with this workspace (you must be its owner or editor)."
    )

    _check_metadata = field_validator("metadata")(_metadata_size)


class DocumentChanges(BaseModel):
    """Fields to change; `content` re-chunks and re-embeds only passages that changed."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    content: str | None = Field(default=None, min_length=1)
    source: str | None = Field(default=None, max_length=2000)
    category: str | None = Field(default=None, min_length=1, max_length=100)
    metadata: Metadata | None = None
    workspace_id: UUID | None = None

    _check_metadata = field_validator("metadata")(
        lambda value: None if value is None else _metadata_size(value)
    )


class SearchQuery(BaseModel):
    query: str = Field(min_length=1, max_length=2000, examples=["How do I reset my password?"])
    k: int = Field(default=5, ge=1, le=100, description="How many results to return.")
    threshold: float | None = Field(
        default=None, ge=-1, le=1, description="Minimum similarity (semantic and hybrid modes)."
    )
    metadata: Metadata = Field(default_factory=dict, description="Metadata the document contains.")
    category: str | None = Field(default=None, min_length=1, max_length=100)
    workspace_id: UUID | None = None
    mode: SearchMode = Field(
        default="semantic",
        description="'semantic' ranks by meaning (vectors); 'keyword' by the query's words "
        "(BM25: any of them, rare words weigh more); 'hybrid' fuses both.",
    )
    group_by: GroupBy = Field(
        default="passage",
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
    location: dict[str, Any] = Field(
        default_factory=dict,
        description='Where the passage is in its file, to cite it: {"page": 12} or '
        '{"pages": [3, 4]} (PDF), {"headings": ["Setup", "Keys", "Rotation"]} (HTML, DOCX, '
        "Markdown); empty for text sent as JSON.",
    )
    similarity: float | None = Field(
        description="Cosine similarity of query and passage (-1..1); null in keyword mode."
    )
    score: float = Field(
        description="Ranking score: the similarity (semantic), BM25 (keyword), or the fused "
        "score, 0..1 (hybrid)."
    )
    embedding_model: str


class IngestResult(BaseModel):
    document_id: UUID
    created: bool = Field(description="False when the same text was already stored there.")
    chunk_count: int
    embedding_model: str
