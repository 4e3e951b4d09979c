"""What the edge does for a caller: store, wait for, search, read, change and delete documents,
and manage workspaces.

Each operation is calls to PostgREST with the caller's token. The edge stores text (and a file's
layout); the database queues it and the embedding worker writes its passages, so the only text
the edge embeds is a search's query. Access rules are not repeated here: RLS answers, and its
refusals come back as errors.
"""

import asyncio
import json
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from uuid import UUID

from knowledge_core import limits
from knowledge_core.chunking import layout_of
from knowledge_core.embeddings import Embedder, QueryEmbeddingCache
from knowledge_core.errors import (
    Conflict,
    FileRejected,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnsupportedMediaType,
)
from knowledge_core.extraction import Extracted, ExtractionFailed, detect_format, extract_file
from knowledge_core.limits import WorkspaceRole
from knowledge_core.models import (
    DocumentChanges,
    DocumentDetail,
    DocumentPage,
    DocumentStatus,
    IngestResult,
    Invitation,
    NewDocument,
    SearchHit,
    SearchQuery,
    SectionSpan,
    Workspace,
    WorkspaceMember,
)
from knowledge_core.rest import CallerRest, RestPool
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller

Progress = Callable[[int, int], Awaitable[None]]

# Not the text itself: lists stay small; a document read one at a time carries it.
DOCUMENT_COLUMNS = (
    "id,owner_id,workspace_id,title,source,category,metadata,content_hash,embedding_model,"
    "embedding_status,embedding_error,passages_embedded,passages_total,created_at,updated_at"
)
STATUS_COLUMNS = (
    "document_id:id,embedding_status,embedding_error,embedding_model,passages_embedded,"
    "passages_total"
)
PASSAGE_COLUMNS = "chunk_id:id,chunk_index,content,location"


# The keys of a chunk's metadata that say where it is in its file (see chunk_sections).
LOCATION_KEYS = ("page", "pages", "headings")

# Waiting for the worker costs a status read each look (API, gateway, PostgREST and Postgres
# CPU, on the cores the worker and the embedder need). So the first look comes about when short
# documents have recently been ready (ReadyTimes.looks: a tenth of a second when the worker is
# idle, seconds when it is busy), the next ones less and less often. In the 50-client load test,
# looking every 50 ms growing to 1 s made about 14 reads per ingest, four times the clients' own
# requests; these looks make about 3 (from PostgREST's CPU per request, docs/benchmarks.md, "The
# embedder").
FIRST_LOOK_SECONDS = 0.05
LOOK_GROWTH = 1.5
LONGEST_LOOK_SECONDS = 1.0
SHORT_DOCUMENT_PASSAGES = 4
RECENT_WAITS = 32


class ReadyTimes:
    """How long the last short documents written through this process took to be ready."""

    def __init__(self) -> None:
        self._seconds: deque[float] = deque(maxlen=RECENT_WAITS)

    def add(self, seconds: float) -> None:
        self._seconds.append(seconds)

    def looks(self) -> Iterator[float]:
        """Pauses before each look: the first at three quarters of the recent median wait, then
        a sixth of it, growing to a quarter of it (at least LONGEST_LOOK_SECONDS): when
        documents wait seconds for the worker, a look every 50 ms to 1 s mostly finds them
        still pending."""
        typical = statistics.median(self._seconds) if self._seconds else 0.0
        yield max(FIRST_LOOK_SECONDS, 0.75 * typical)
        pause = max(FIRST_LOOK_SECONDS, typical / 6)
        longest = max(LONGEST_LOOK_SECONDS, typical / 4)
        while True:
            yield min(pause, longest)
            pause *= LOOK_GROWTH


class Knowledge:
    """Process-wide parts (connection pool, query embedder and cache), shared by all callers."""

    def __init__(self, settings: Settings, rest: RestPool, embedder: Embedder) -> None:
        self.settings = settings
        self.rest = rest
        self.embedder = embedder
        self.query_cache = QueryEmbeddingCache(embedder, settings.embedding_cache_size)
        self.ready_times = ReadyTimes()
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

    # -- writing -----------------------------------------------------------------------------
    def wait_for(self, text: str, wait: float | None) -> float:
        """How long a write of `text` waits for `ready`: as asked, else the default for its
        size (small documents wait, large ones answer at once and are embedded meanwhile)."""
        if wait is not None:
            return wait
        small = len(text) <= self.settings.background_threshold_chars
        return limits.DEFAULT_WAIT_SECONDS if small else 0.0

    def _check_text(self, text: str, field: str = "content") -> None:
        """Refused before anything is stored: a text the worker could not cut into passages."""
        if len(text) > self.settings.max_document_chars:
            raise PayloadTooLarge(
                f"the document has {len(text)} characters; the limit (MAX_DOCUMENT_CHARS) is "
                f"{self.settings.max_document_chars}",
                field=field,
            )
        if not text.strip():
            raise InvalidInput("the document has no text", field=field)

    async def add_document(
        self,
        document: NewDocument,
        *,
        wait: float | None = None,
        on_progress: Progress | None = None,
    ) -> IngestResult:
        """Store the text (one call, idempotent), then wait up to `wait` seconds for the worker
        to embed it. Nothing is stored unless the whole write is valid."""
        self._check_text(document.content)
        rows = await self.rest.rpc(
            "ingest_document",
            {
                "title": document.title,
                "content": document.content,
                "source": document.source,
                "category": document.category,
                "metadata": document.metadata,
                "workspace_id": str(document.workspace_id) if document.workspace_id else None,
                "sections": _layout_json(document.sections),
            },
        )
        row = rows[0]
        status = DocumentStatus.model_validate(row)
        seconds = self.wait_for(document.content, wait)
        status = await self._wait_stored(status, seconds, on_progress)
        return IngestResult(**status.model_dump(), created=row["created"])

    async def _wait_stored(
        self, status: DocumentStatus, seconds: float, on_progress: Progress | None
    ) -> DocumentStatus:
        """wait_until_ready for a write already committed: a database or PostgREST gone while
        waiting does not undo it, so the answer is the document, pending, not an error."""
        try:
            return await self.wait_until_ready(status, seconds, on_progress)
        except Unavailable:
            return status

    def document_from_file(
        self,
        extracted: Extracted,
        *,
        title: str | None,
        file_name: str | None,
        **fields: Any,
    ) -> NewDocument:
        """The document a file makes: its text and layout, its own title unless one is given."""
        text, layout = layout_of(extracted.sections)
        stem = file_name.rsplit(".", 1)[0] if file_name else ""
        return NewDocument(
            title=(title or extracted.title or stem or "Untitled")[: limits.MAX_TITLE_CHARS],
            content=text,
            sections=[SectionSpan(**span) for span in layout],
            **fields,
        )

    async def wait_until_ready(
        self, status: DocumentStatus, seconds: float, on_progress: Progress | None = None
    ) -> DocumentStatus:
        """Look at the document's status (on the primary) until it is no longer pending or
        `seconds` have passed; report the worker's progress on the way."""
        started = time.monotonic()
        deadline = started + seconds
        recent = self.knowledge.ready_times
        pauses = recent.looks()
        reported: tuple[int, int] | None = None
        looked = False
        while True:
            if on_progress is not None and status.passages_total is not None:
                done = (status.passages_embedded or 0, status.passages_total)
                if done != reported:
                    reported = done
                    await on_progress(*done)
            left = deadline - time.monotonic()
            if status.embedding_status != "pending" or left <= 0:
                short = (status.passages_total or 0) <= SHORT_DOCUMENT_PASSAGES
                if status.embedding_status == "ready" and looked:
                    # The worker's commit, seen here, is not a write of this caller's: mark one
                    # after it, so their next reads meet only replicas that have the passages.
                    await self.rest.rpc("mark_read_point", {})
                    if short:
                        recent.add(time.monotonic() - started)
                return status
            await asyncio.sleep(min(next(pauses), left))
            status = await self.document_status(status.document_id, primary=True)
            looked = True

    async def document_status(self, document_id: UUID, *, primary: bool = False) -> DocumentStatus:
        rows, _ = await self.rest.select(
            "documents",
            {"id": f"eq.{document_id}", "select": STATUS_COLUMNS},
            primary=primary,
        )
        if not rows:
            raise NotFound(f"document {document_id} does not exist or is not yours to see")
        return DocumentStatus.model_validate(rows[0])

    async def update_document(
        self,
        document_id: UUID,
        changes: DocumentChanges,
        *,
        wait: float | None = None,
        on_progress: Progress | None = None,
    ) -> DocumentDetail:
        """Change fields; new text (and layout) is embedded again by the worker, which keeps
        the vectors of passages that did not change. Waits like a new document."""
        fields = changes.model_dump(exclude_unset=True, mode="json", exclude_none=False)
        if changes.content is not None:
            self._check_text(changes.content)
            # New text without a layout is plain text: the old layout described the old text.
            fields["sections"] = _layout_json(changes.sections)
        if fields:
            updated = await self.rest.update(
                "documents", {"id": f"eq.{document_id}", "select": STATUS_COLUMNS}, fields
            )
            if not updated:
                await self.document_status(document_id)  # NotFound if not even visible
                # Visible, yet RLS let no row change: read-only for this caller.
                raise Forbidden(f"you may read document {document_id} but not change it")
            if changes.content is not None:
                seconds = self.wait_for(changes.content, wait)
                await self._wait_stored(
                    DocumentStatus.model_validate(updated[0]), seconds, on_progress
                )
        return await self.get_document(document_id)

    async def delete_document(self, document_id: UUID) -> None:
        deleted = await self.rest.delete("documents", {"id": f"eq.{document_id}", "select": "id"})
        if not deleted:
            await self.document_status(document_id)  # NotFound if the caller cannot see it
            raise Forbidden(f"you may read document {document_id} but not delete it")

    # -- reading -----------------------------------------------------------------------------
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
            # No vector involved: the query is not embedded (and a threshold was refused).
            arguments = {"query_text": query.query, **filters}
            if by_document:
                arguments["group_by_document"] = True
            rows = await self.rest.search("keyword_search", arguments)
            return [_hit(r, score=r["score"]) for r in rows]
        vector = await self.knowledge.query_cache.embed_query(query.query, token=self.token)
        common = {"query_embedding": vector, "match_threshold": query.threshold, **filters}
        if query.mode == "hybrid" or by_document:
            arguments = {"query_text": query.query, **common}
            if by_document:
                arguments["group_by_document"] = True
            if query.mode == "semantic":
                # Documents by their best passage, semantic only: hybrid_search with its keyword
                # side off (one place groups passages into documents).
                arguments["full_text_weight"] = 0
            rows = await self.rest.search("hybrid_search", arguments)
            key = "score" if query.mode == "hybrid" else "similarity"
            return [_hit(r, score=r[key]) for r in rows]
        rows = await self.rest.search("match_documents", common)
        return [_hit(r, score=r["similarity"]) for r in rows]

    async def get_document(self, document_id: UUID) -> DocumentDetail:
        """The document and its passages from one statement: two requests could read the
        document before the worker's commit and its passages after it."""
        rows, _ = await self.rest.select(
            "documents",
            {
                "id": f"eq.{document_id}",
                "select": f"{DOCUMENT_COLUMNS},content,sections,"
                f"passages:document_chunks({PASSAGE_COLUMNS})",
                "passages.order": "chunk_index",
            },
        )
        if not rows:
            raise NotFound(f"document {document_id} does not exist or is not yours to see")
        return DocumentDetail.model_validate(rows[0])

    async def list_documents(
        self,
        *,
        limit: int = limits.DEFAULT_PAGE_SIZE,
        offset: int = 0,
        category: str | None = None,
        workspace_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
    ) -> DocumentPage:
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
        if source is not None:
            params["source"] = f"eq.{source}"
        if metadata:
            params["metadata"] = f"cs.{json.dumps(metadata)}"
        rows, total = await self.rest.select("documents", params, count=True)
        following = offset + len(rows)
        more = len(rows) == limit if total is None else following < total
        return DocumentPage.model_validate(
            {
                "items": rows,
                "total": total,
                "limit": limit,
                "offset": offset,
                "next_offset": following if more else None,
            }
        )

    # -- workspaces --------------------------------------------------------------------------
    async def list_workspaces(self) -> list[Workspace]:
        """The caller's workspaces, with their role in each."""
        rows, _ = await self.rest.select(
            "workspace_members",
            {
                "user_id": f"eq.{self.rest.caller.user_id}",
                "select": "role,workspaces(id,name,created_at)",
                "order": "created_at",
            },
        )
        return [Workspace.model_validate({**r["workspaces"], "role": r["role"]}) for r in rows]

    async def create_workspace(self, name: str) -> Workspace:
        """A new workspace; its creator is its first owner (a trigger makes the membership)."""
        row = await self.rest.insert("workspaces", {"name": name})
        return Workspace.model_validate({**row, "role": "owner"})

    async def list_members(self, workspace_id: UUID) -> list[WorkspaceMember]:
        await self._visible_workspace(workspace_id)
        rows, _ = await self.rest.select(
            "workspace_members",
            {"workspace_id": f"eq.{workspace_id}", "order": "created_at,user_id"},
        )
        return [WorkspaceMember.model_validate(r) for r in rows]

    async def set_role(
        self, workspace_id: UUID, user_id: UUID, role: WorkspaceRole
    ) -> WorkspaceMember:
        """Give a member another role (owners only: RLS decides). Nobody becomes a member
        this way: they are invited and accept."""
        await self._visible_workspace(workspace_id)
        changed = await self.rest.update(
            "workspace_members",
            {"workspace_id": f"eq.{workspace_id}", "user_id": f"eq.{user_id}"},
            {"role": role},
        )
        if changed:
            return WorkspaceMember.model_validate(changed[0])
        members = await self.list_members(workspace_id)
        if any(m.user_id == user_id for m in members):
            raise Forbidden(f"only the workspace's owners may change {user_id}'s role")
        raise NotFound(
            f"{user_id} is not a member of workspace {workspace_id}: invite them, and they "
            "become one by accepting",
            field="user_id",
        )

    async def invite(self, workspace_id: UUID, invitee_id: UUID, role: WorkspaceRole) -> Invitation:
        """Offer a seat with `role`, or change the role offered (owners only: RLS decides)."""
        await self._visible_workspace(workspace_id)
        row = {"workspace_id": str(workspace_id), "invitee_id": str(invitee_id), "role": role}
        try:
            saved = await self.rest.insert("workspace_invitations", row)
        except Conflict as error:
            if (error.upstream or {}).get("code") != "23505":
                raise
            # Invited already: the role offered changes (only the role is updatable).
            changed = await self.rest.update(
                "workspace_invitations",
                {"workspace_id": f"eq.{workspace_id}", "invitee_id": f"eq.{invitee_id}"},
                {"role": role},
            )
            if not changed:
                raise Forbidden("only the workspace's owners may invite") from None
            saved = changed[0]
        except Forbidden as error:
            raise Forbidden("only the workspace's owners may invite") from error
        return Invitation.model_validate(saved)

    async def invitations(self, workspace_id: UUID | None = None) -> list[Invitation]:
        """Open invitations: to the caller (no workspace), or a workspace's (its owners)."""
        params = {
            "select": "workspace_id,invitee_id,role,invited_by,created_at,workspaces(name)",
            "order": "created_at",
        }
        if workspace_id is None:
            params["invitee_id"] = f"eq.{self.rest.caller.user_id}"
        else:
            await self._visible_workspace(workspace_id)
            params["workspace_id"] = f"eq.{workspace_id}"
        rows, _ = await self.rest.select("workspace_invitations", params)
        return [
            Invitation.model_validate({**r, "workspace_name": (r.pop("workspaces") or {})["name"]})
            for r in rows
        ]

    async def accept(self, workspace_id: UUID) -> WorkspaceMember:
        """Take the seat offered: a member with the role of the invitation, which is spent."""
        mine = [i for i in await self.invitations() if i.workspace_id == workspace_id]
        if not mine:
            raise NotFound(f"you have no invitation to workspace {workspace_id}")
        row = {
            "workspace_id": str(workspace_id),
            "user_id": str(self.rest.caller.user_id),
            "role": mine[0].role,
        }
        try:
            saved = await self.rest.insert("workspace_members", row)
        except Forbidden as error:
            raise Forbidden(
                "an invitation is accepted by its invitee in person, not by an agent"
            ) from error
        return WorkspaceMember.model_validate(saved)

    async def withdraw(self, workspace_id: UUID, invitee_id: UUID) -> None:
        """Withdraw an invitation (owners), or decline it (its invitee)."""
        deleted = await self.rest.delete(
            "workspace_invitations",
            {
                "workspace_id": f"eq.{workspace_id}",
                "invitee_id": f"eq.{invitee_id}",
                "select": "invitee_id",
            },
        )
        if not deleted:
            raise NotFound(
                f"no invitation of {invitee_id} to workspace {workspace_id} that you may withdraw",
                field="user_id",
            )

    async def remove_member(self, workspace_id: UUID, user_id: UUID) -> None:
        """Remove a member (owners), or leave (anyone, for themselves)."""
        await self._visible_workspace(workspace_id)
        deleted = await self.rest.delete(
            "workspace_members",
            {"workspace_id": f"eq.{workspace_id}", "user_id": f"eq.{user_id}"},
        )
        if deleted:
            return
        members = await self.list_members(workspace_id)
        if any(m.user_id == user_id for m in members):
            raise Forbidden(f"only the workspace's owners may remove {user_id}")
        raise NotFound(f"{user_id} is not a member of workspace {workspace_id}", field="user_id")

    async def _visible_workspace(self, workspace_id: UUID) -> None:
        rows, _ = await self.rest.select("workspaces", {"id": f"eq.{workspace_id}", "select": "id"})
        if not rows:
            raise NotFound(f"workspace {workspace_id} does not exist or you are not a member")


def _layout_json(sections: list[SectionSpan] | None) -> list[dict[str, Any]] | None:
    """A layout as the database holds it: no keys without values."""
    if sections is None:
        return None
    return [span.model_dump(exclude_none=True) for span in sections]


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
