"""Hypothesis strategies for attacks on the world: PostgREST filters, metadata, ids, query text.

Each strategy is built for one actor and aims at what that actor may not see or change: other
people's document ids, markers, owners and workspaces, woven into PostgREST's filter language
(`eq`, `in`, `not.`, `or=`/`and=` trees, JSON containment on metadata, full-text search) and
into resource embedding, so that a hole in any policy shows up as a row in an answer.
"""

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from tests.hostile.world import Actor, Doc, World

# Text an attacker may type: any printable Unicode except NUL (Postgres refuses it in text) and
# lone surrogates (no client can encode them), up to the sizes the doors accept.
ALPHABET = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
text = st.text(ALPHABET, max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), text)

SELECTS: dict[str, list[str]] = {
    "documents": [
        "*",
        "id",
        "x:id,title",
        "id,metadata->>secret",
        "*,document_chunks(*)",
        "id,document_chunks!inner(content)",
        "*,workspaces(*)",
        "title,workspaces(name,documents(title,metadata))",
    ],
    "document_chunks": [
        "*",
        "x:id,content",
        "document_id,content",
        "*,documents(*)",
        "content,documents!inner(title,metadata)",
        "id,metadata",
    ],
    "workspaces": [
        "*",
        "*,documents(*)",
        "*,documents(*,document_chunks(*))",
        "*,workspace_members(*)",
    ],
    "vector_store": ["*", "id,created_at", "*,documents(*)", "id,documents(content,title)"],
    "agent_grants": ["*", "client_id,access", "user_id,client_id"],
}


@dataclass
class Request:
    """One HTTP request to PostgREST (path under /rest/v1), as an attacker would send it."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    count_probe: bool = False  # a count over hidden rows only: any total above 0 leaks

    def describe(self) -> str:
        return f"{self.method} {self.path} {self.params} {json.dumps(self.body)[:200]}"


@st.composite
def metadata_probe(draw: st.DrawFn, world: World) -> dict[str, Any]:
    """A metadata object aimed at a document: its marker, owner or nesting, plus noise."""
    doc = draw(st.sampled_from(world.docs))
    options: list[dict[str, Any]] = [
        {"marker": doc.marker},
        {"nested": {"marker": doc.marker}},
        {"owner": doc.owner},
        {"lang": "en"},
        {"nested": {"level": 0}},
        {},
    ]
    base = draw(st.sampled_from(options))
    extra = draw(st.dictionaries(text.filter(bool), scalars, max_size=2))
    return {**extra, **base} if draw(st.booleans()) else base


def _other(world: World, doc: Doc) -> Doc:
    return next((d for d in world.docs if d.id != doc.id), doc)


@st.composite
def filter_atom(draw: st.DrawFn, world: World, actor: Actor, table: str) -> tuple[str, str]:
    """One PostgREST query parameter aimed at rows hidden from `actor`."""
    hidden = world.unreadable(actor) or world.docs
    doc = draw(st.sampled_from(hidden))
    victim = world.people[doc.owner].id
    ws = draw(st.sampled_from(list(world.workspaces.values())))
    meta = json.dumps(draw(metadata_probe(world)), separators=(",", ":"))
    noise = draw(text)
    if table == "workspaces":
        return draw(
            st.sampled_from(
                [
                    ("id", f"eq.{ws}"),
                    ("id", f"in.({','.join(world.workspaces.values())})"),
                    ("or", f"(id.eq.{ws},created_by.eq.{victim})"),
                    ("name", "like.hostile*"),
                    ("name", f"eq.{noise}"),
                ]
            )
        )
    if table == "agent_grants":
        client = draw(st.sampled_from(list(world.clients.values())))
        return draw(
            st.sampled_from(
                [
                    ("client_id", f"eq.{client}"),
                    ("user_id", f"neq.{actor.user.id}"),
                    ("user_id", f"eq.{victim}"),
                    ("access", "eq.write"),
                ]
            )
        )
    id_col = "id" if table == "documents" else "document_id"
    text_col = "title" if table == "documents" else "content"
    return draw(
        st.sampled_from(
            [
                (id_col, f"eq.{doc.id}"),
                (id_col, f"in.({doc.id},{_other(world, doc).id})"),
                (id_col, f"not.eq.{uuid.uuid4()}"),
                (id_col, "not.is.null"),
                ("owner_id", f"eq.{victim}"),
                ("owner_id", f"neq.{actor.user.id}"),
                ("workspace_id", f"eq.{ws}"),
                ("workspace_id", "is.null"),
                ("metadata", f"cs.{meta}"),
                ("metadata", f"cd.{meta}"),
                ("metadata->>marker", f"eq.{doc.marker}"),
                ("metadata->nested->>marker", f"like.{doc.marker[:5]}*"),
                ("metadata->>secret", "not.is.null"),
                (text_col, f"like.*{doc.marker}*"),
                (text_col, f"fts.{doc.marker}"),
                (text_col, f"ilike.*{noise}*"),
                ("category", f"eq.cat-{doc.owner}"),
                ("or", f"(owner_id.eq.{victim},workspace_id.eq.{ws})"),
                (
                    "or",
                    f"({id_col}.eq.{doc.id},and(owner_id.neq.{actor.user.id},metadata.cs.{meta}))",
                ),
                ("not.or", f"(owner_id.eq.{actor.user.id},{id_col}.is.null)"),
                ("and", f"({id_col}.eq.{doc.id},or(category.eq.shared,category.like.cat-*))"),
                ("or", f"({noise})"),
                (id_col, f"eq.{noise}"),
            ]
        )
    )


@st.composite
def rest_read(draw: st.DrawFn, world: World) -> tuple[Actor, Request]:
    """A read of a table, a count over hidden rows, or a search RPC with filters on top."""
    actor = draw(st.sampled_from(world.actors))
    kind = draw(st.sampled_from(["table", "table", "count", "rpc"]))
    if kind == "rpc":
        return actor, draw(search_rpc(world, actor))
    table = draw(st.sampled_from(list(SELECTS)))
    params = draw(st.lists(filter_atom(world, actor, table), max_size=3))
    headers: dict[str, str] = {}
    if kind == "count" and table in ("documents", "document_chunks"):
        id_col = "id" if table == "documents" else "document_id"
        hidden = ",".join(d.id for d in world.unreadable(actor)) or str(uuid.uuid4())
        params.append((id_col, f"in.({hidden})"))
        headers["Prefer"] = "count=exact"
        method = draw(st.sampled_from(["GET", "HEAD"]))
        return actor, Request(method, f"/{table}", params, headers=headers, count_probe=True)
    params.append(("select", draw(st.sampled_from(SELECTS[table]))))
    if draw(st.booleans()):
        params.append(("limit", str(draw(st.integers(1, 50)))))
    if draw(st.booleans()):
        headers["Prefer"] = "count=exact"
    accept = draw(st.sampled_from([None, "text/csv", "application/vnd.pgrst.object+json"]))
    if accept:
        headers["Accept"] = accept
    return actor, Request("GET", f"/{table}", params, headers=headers)


@st.composite
def search_arguments(draw: st.DrawFn, world: World, actor: Actor) -> tuple[Doc, dict[str, Any]]:
    """match_documents / hybrid_search / keyword_search arguments aimed at a hidden document.

    The query vector is that document's own first chunk's vector, the nearest thing there is to
    it: if RLS let it through, it would rank first.
    """
    doc = draw(st.sampled_from(world.unreadable(actor) or world.docs))
    arguments: dict[str, Any] = {
        "query_embedding": list(doc.first_chunk_vector),
        "match_count": draw(st.integers(1, 50)),
    }
    if draw(st.booleans()):
        arguments["filter"] = draw(metadata_probe(world))
    if draw(st.booleans()):
        arguments["filter_workspace_id"] = draw(st.sampled_from(list(world.workspaces.values())))
    if draw(st.booleans()):
        arguments["filter_category"] = draw(st.sampled_from(["shared", f"cat-{doc.owner}"]))
    return doc, arguments


@st.composite
def search_rpc(draw: st.DrawFn, world: World, actor: Actor) -> Request:
    doc, arguments = draw(search_arguments(world, actor))
    function = draw(st.sampled_from(["match_documents", "hybrid_search", "keyword_search"]))
    if function != "match_documents":
        arguments["query_text"] = draw(
            st.sampled_from([doc.marker, doc.probe_text, "note records"])
        )
        arguments["group_by_document"] = draw(st.booleans())
        if function == "keyword_search":
            del arguments["query_embedding"]  # the hidden document's words are the probe
    else:
        arguments["match_threshold"] = draw(st.sampled_from([None, -1.0, 0.0, 0.5]))
    params: list[tuple[str, str]] = []
    if draw(st.booleans()):
        params.append(("document_id", f"eq.{doc.id}"))
    if draw(st.booleans()):
        params.append(("select", draw(st.sampled_from(["content,title,metadata", "x:id", "*"]))))
    return Request("POST", f"/rpc/{function}", params, body=arguments)


PWNED = "pwned by the hostile suite"


def _vector() -> list[float]:
    return [1.0] + [0.0] * 383


@st.composite
def rest_write(draw: st.DrawFn, world: World) -> tuple[Actor, Request]:
    """A write aimed at what the actor may not change.

    Updates and deletes of documents and chunks always carry `id=in.(targets)` of forbidden
    rows (PostgREST ANDs it with the fuzzed filters): an actor's own rows are never at stake,
    so a legitimate success cannot alter the world later attacks meet. Actors without any
    write right also get unrestricted updates and deletes: for them, any change is a leak.
    """
    actor = draw(st.sampled_from(world.actors))
    unwritable = world.unwritable(actor)
    undeletable = world.undeletable(actor)
    target = draw(st.sampled_from(unwritable))
    targets = draw(st.lists(st.sampled_from(unwritable), min_size=1, max_size=3, unique=True))
    ids = ",".join(d.id for d in targets)
    foreign_ws = draw(st.sampled_from(world.foreign_workspaces(actor)))
    unowned_ws = draw(st.sampled_from(world.unowned_workspaces(actor)))
    atoms = draw(st.lists(filter_atom(world, actor, "documents"), max_size=2))
    chunk_atoms = draw(st.lists(filter_atom(world, actor, "document_chunks"), max_size=2))
    no_rights = not world.writable_workspaces(actor) and not any(
        world.can_write(actor, d) for d in world.docs
    )
    kinds = [
        "patch-doc",
        "delete-doc",
        "patch-chunk",
        "delete-chunk",
        "insert-chunk",
        "insert-doc-foreign-workspace",
        "insert-doc-as-victim",
        "upsert-doc",
        "rpc-ingest",
        "patch-doc-layout",
        "join-workspace",
        "promote-self",
        "remove-others",
        "rename-workspace",
        "delete-workspace",
        # LangChain's door (public.vector_store) and the documents' text.
        "vector-store-upsert",
        "vector-store-insert-foreign-workspace",
        "vector-store-patch",
        "vector-store-delete",
        "patch-doc-text",
        # Agents' grants: only a user's own session writes its own (10_caller_token.sql).
        "grant-as-victim",
        "grant-self",
        "raise-grants",
        "revoke-grants",
    ]
    if no_rights:
        kinds += ["patch-any", "delete-any", "delete-any-chunk"]
    kind = draw(st.sampled_from(kinds))
    ret = {"Prefer": "return=representation"}
    doc_body = draw(
        st.sampled_from(
            [
                {"title": PWNED},
                {"metadata": {"pwned": True}},
                {"category": "pwned"},
                {"workspace_id": None},
                {"workspace_id": foreign_ws},
                {"owner_id": actor.user.id},
                {"content_hash": "0" * 64},
            ]
        )
    )
    new_doc = {
        "title": PWNED,
        "content_hash": uuid.uuid4().hex * 2,
        "embedding_model": "hostile",
    }
    request: Request
    if kind == "patch-doc":
        request = Request("PATCH", "/documents", [("id", f"in.({ids})"), *atoms], doc_body, ret)
    elif kind == "delete-doc":
        gone = draw(st.lists(st.sampled_from(undeletable), min_size=1, max_size=3, unique=True))
        restriction = ("id", f"in.({','.join(d.id for d in gone)})")
        request = Request("DELETE", "/documents", [restriction, *atoms], headers=ret)
    elif kind == "patch-chunk":
        body = draw(st.sampled_from([{"content": PWNED}, {"chunk_index": 999}]))
        params = [("document_id", f"in.({ids})"), *chunk_atoms]
        request = Request("PATCH", "/document_chunks", params, body, ret)
    elif kind == "delete-chunk":
        params = [("document_id", f"in.({ids})"), *chunk_atoms]
        request = Request("DELETE", "/document_chunks", params, headers=ret)
    elif kind == "insert-chunk":
        body = {
            "document_id": target.id,
            "chunk_index": draw(st.integers(100, 10_000)),
            "content": PWNED,
            "embedding": _vector(),
        }
        request = Request("POST", "/document_chunks", body=body, headers=ret)
    elif kind == "insert-doc-foreign-workspace":
        request = Request("POST", "/documents", body={**new_doc, "workspace_id": foreign_ws})
    elif kind == "insert-doc-as-victim":
        victim = world.people[target.owner].id
        body = {
            **new_doc,
            "owner_id": victim,
            "workspace_id": draw(st.sampled_from([None, ws_of(world, target)])),
        }
        request = Request("POST", "/documents", body=body, headers=ret)
    elif kind == "upsert-doc":
        body = {**new_doc, "id": target.id}
        headers = {"Prefer": "resolution=merge-duplicates,return=representation"}
        request = Request("POST", "/documents", [("on_conflict", "id")], body, headers)
    elif kind == "rpc-ingest":
        body = {
            "title": PWNED,
            "content": f"{PWNED}\n\n{PWNED}",
            "workspace_id": foreign_ws,
            "metadata": draw(metadata_probe(world)),
            "sections": draw(
                st.sampled_from([None, [{"chars": len(PWNED)}, {"chars": len(PWNED), "page": 2}]])
            ),
        }
        request = Request("POST", "/rpc/ingest_document", body=body)
    elif kind == "patch-doc-layout":
        # A file's layout decides how the worker cuts a document: as much a change as its text.
        layout = [{"chars": 1, "headings": [PWNED]}]
        request = Request(
            "PATCH", "/documents", [("id", f"in.({ids})"), *atoms], {"sections": layout}, ret
        )
    elif kind == "join-workspace":
        role = draw(st.sampled_from(["owner", "editor", "viewer"]))
        body = {"workspace_id": unowned_ws, "user_id": actor.user.id, "role": role}
        request = Request("POST", "/workspace_members", body=body, headers=ret)
    elif kind == "promote-self":
        params = [("workspace_id", f"eq.{unowned_ws}"), ("user_id", f"eq.{actor.user.id}")]
        request = Request("PATCH", "/workspace_members", params, {"role": "owner"}, ret)
    elif kind == "remove-others":
        params = [("workspace_id", f"eq.{unowned_ws}"), ("user_id", f"neq.{actor.user.id}")]
        request = Request("DELETE", "/workspace_members", params, headers=ret)
    elif kind == "rename-workspace":
        request = Request(
            "PATCH", "/workspaces", [("id", f"eq.{unowned_ws}")], {"name": PWNED}, ret
        )
    elif kind == "delete-workspace":
        request = Request("DELETE", "/workspaces", [("id", f"eq.{unowned_ws}")], headers=ret)
    elif kind == "vector-store-upsert":
        body = {
            "id": target.id,
            "content": PWNED,
            "embedding": draw(st.sampled_from([None, _vector()])),
        }
        headers = {"Prefer": "resolution=merge-duplicates,return=representation"}
        request = Request("POST", "/vector_store", [("on_conflict", "id")], body, headers)
    elif kind == "vector-store-insert-foreign-workspace":
        body = {"content": PWNED, "workspace_id": foreign_ws, "metadata": {"pwned": True}}
        request = Request("POST", "/vector_store", body=body, headers=ret)
    elif kind == "vector-store-patch":
        body = draw(
            st.sampled_from(
                [{"content": PWNED}, {"metadata": {"pwned": True}}, {"embedding": _vector()}]
            )
        )
        request = Request("PATCH", "/vector_store", [("id", f"in.({ids})")], body, ret)
    elif kind == "vector-store-delete":
        gone = draw(st.lists(st.sampled_from(undeletable), min_size=1, max_size=3, unique=True))
        restriction = ("id", f"in.({','.join(d.id for d in gone)})")
        request = Request("DELETE", "/vector_store", [restriction], headers=ret)
    elif kind == "patch-doc-text":
        request = Request(
            "PATCH", "/documents", [("id", f"in.({ids})"), *atoms], {"content": PWNED}, ret
        )
    elif kind in ("grant-as-victim", "grant-self") and (
        kind == "grant-as-victim" or actor.client_id is None
    ):
        # In another person's name (a person granting for themselves would be within rights).
        someone = draw(st.sampled_from([u for p, u in world.people.items() if p != actor.person]))
        client = draw(st.sampled_from([*world.clients.values(), str(uuid.uuid4())]))
        body = {"user_id": someone.id, "client_id": client, "access": "write"}
        upsert = [("on_conflict", "user_id,client_id")] if draw(st.booleans()) else []
        headers = {"Prefer": "resolution=merge-duplicates,return=representation"}
        request = Request("POST", "/agent_grants", upsert, body, headers)
    elif kind == "grant-self":
        # An agent giving itself (more) access, as the consent page would write it.
        body = {"client_id": actor.client_id, "access": "write"}
        headers = {"Prefer": "resolution=merge-duplicates,return=representation"}
        request = Request(
            "POST", "/agent_grants", [("on_conflict", "user_id,client_id")], body, headers
        )
    elif kind == "raise-grants":
        # Others' grants for anyone; an agent's own user's grants too (never a person's own).
        scope = (
            ("user_id", f"neq.{actor.user.id}")
            if actor.client_id is None
            else ("access", "in.(read,write)")
        )
        request = Request("PATCH", "/agent_grants", [scope], {"access": "write"}, ret)
    elif kind == "revoke-grants":
        scope = (
            ("user_id", f"neq.{actor.user.id}")
            if actor.client_id is None
            else ("client_id", "not.is.null")
        )
        request = Request("DELETE", "/agent_grants", [scope], headers=ret)
    elif kind == "patch-any":
        request = Request("PATCH", "/documents", atoms or [("id", "not.is.null")], doc_body, ret)
    elif kind == "delete-any":
        request = Request("DELETE", "/documents", atoms or [("id", "not.is.null")], headers=ret)
    else:  # delete-any-chunk
        params = chunk_atoms or [("id", "gt.0")]
        request = Request("DELETE", "/document_chunks", params, headers=ret)
    return actor, request


def ws_of(world: World, doc: Doc) -> str | None:
    return world.workspaces[doc.workspace] if doc.workspace else None


def write_kind(request: Request) -> str:
    """A short name for the report: method and path."""
    return f"{request.method} {request.path}"
