"""A small, realistic world to attack, the rules of who may do what in it, and a leak detector.

Six people, two workspaces with owner/editor/viewer seats, ten documents ingested through the
API (so their chunks and vectors are real, written by the embedding worker), and tokens that act
for them: session tokens, and agents' tokens as Supabase Auth's OAuth server issues them (a
client id, "openid email"): one its user let read, one it let write, one never let in, one whose
grant was revoked, one carrying a client id another user granted (not this one), one that tried
to grant itself.

Every document carries two strings: a `marker`, a guessable word attackers are allowed to probe
with (in filters, full-text and search queries), and a `secret`, random and never sent in any
request. A forbidden secret seen in any answer, whatever its shape or status, is a leak; so is
a forbidden document or chunk id in a successful answer, and so is any change to what the
actor may not change (compared in the database before and after, as postgres, RLS bypassed),
the users' agent grants included.
"""

import json
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer
from tests.support import agent_token, rest_client

READ = "knowledge:read"
WRITE = "knowledge:write"
ROLES_THAT_WRITE = {"owner", "editor"}
TOPICS = [
    "payroll schedule",
    "rocket engine test",
    "garden irrigation",
    "key rotation runbook",
    "board meeting minutes",
    "customer escalation",
    "office lease renewal",
    "incident postmortem",
    "hiring plan",
    "vendor contract",
]


def word(prefix: str) -> str:
    """A single lowercase token that Postgres' English full-text parser keeps whole."""
    return prefix + secrets.token_hex(6)


@dataclass(frozen=True)
class Doc:
    id: str
    label: str
    owner: str  # a person's label
    workspace: str | None  # a workspace's label
    marker: str
    secret: str
    created_by_client: str | None
    chunk_ids: tuple[int, ...]
    first_chunk_text: str = field(repr=False)
    first_chunk_vector: tuple[float, ...] = field(repr=False)

    @property
    def probe_text(self) -> str:
        """The start of its first passage without the secret: what a good guess looks like."""
        return self.first_chunk_text[:300].replace(self.secret, "")


@dataclass(frozen=True)
class Actor:
    """A token and whose it is: a person's own session (client_id None: full rights), or an
    agent's token, which gets what its user granted this client (`access`: read, write, or None
    for no grant at all)."""

    name: str
    person: str
    user: User
    token: str = field(repr=False)
    client_id: str | None = None
    access: str | None = None

    def allows(self, required: str) -> bool:
        """private.token_allows, restated: write implies read; no client_id means all."""
        if self.client_id is None:
            return True
        if required == READ:
            return self.access in ("read", "write")
        return self.access == "write"


@dataclass
class World:
    people: dict[str, User]
    workspaces: dict[str, str]  # label -> id
    roles: dict[tuple[str, str], str]  # (person, workspace label) -> role
    docs: list[Doc]
    actors: list[Actor]
    clients: dict[str, str]  # label -> OAuth client id of the world's agents
    workspace_label: dict[str, str] = field(default_factory=dict)  # id -> label

    def __post_init__(self) -> None:
        self.workspace_label = {v: k for k, v in self.workspaces.items()}

    # -- the rules (what RLS is meant to enforce), from the README's data model ------------
    def can_read(self, actor: Actor, doc: Doc) -> bool:
        if not actor.allows(READ):
            return False
        return doc.owner == actor.person or (
            doc.workspace is not None and (actor.person, doc.workspace) in self.roles
        )

    def can_write(self, actor: Actor, doc: Doc) -> bool:
        """Agents (tokens with a client_id) change only what that agent created: its text,
        fields and passages, and deleting it."""
        if not actor.allows(WRITE):
            return False
        if actor.client_id is not None and doc.created_by_client != actor.client_id:
            return False
        return doc.owner == actor.person or (
            doc.workspace is not None
            and self.roles.get((actor.person, doc.workspace)) in ROLES_THAT_WRITE
        )

    def writable_workspaces(self, actor: Actor) -> set[str]:
        """Workspace ids the actor may add documents to."""
        if not actor.allows(WRITE):
            return set()
        return {
            self.workspaces[ws]
            for (person, ws), role in self.roles.items()
            if person == actor.person and role in ROLES_THAT_WRITE
        }

    def foreign_workspaces(self, actor: Actor) -> list[str]:
        """Workspace ids where the actor may add nothing (not an owner or editor there)."""
        mine = self.writable_workspaces(actor)
        return [ws for ws in self.workspaces.values() if ws not in mine]

    def unowned_workspaces(self, actor: Actor) -> list[str]:
        """Workspace ids the actor may not manage (rename, delete, change members)."""
        return [
            ws_id
            for label, ws_id in self.workspaces.items()
            if not (actor.allows(WRITE) and self.roles.get((actor.person, label)) == "owner")
        ]

    def unreadable(self, actor: Actor) -> list[Doc]:
        return [d for d in self.docs if not self.can_read(actor, d)]

    def unwritable(self, actor: Actor) -> list[Doc]:
        return [d for d in self.docs if not self.can_write(actor, d)]

    def undeletable(self, actor: Actor) -> list[Doc]:
        return [d for d in self.docs if not self.can_write(actor, d)]

    def secrets_hidden_from(self, actor: Actor) -> set[str]:
        return {d.secret for d in self.unreadable(actor)}

    def ids_hidden_from(self, actor: Actor) -> set[str]:
        return {d.id for d in self.unreadable(actor)}

    def chunks_hidden_from(self, actor: Actor) -> set[int]:
        return {c for d in self.unreadable(actor) for c in d.chunk_ids}

    @property
    def user_ids(self) -> list[str]:
        return [u.id for u in self.people.values()]

    def person_of(self, user_id: str) -> str | None:
        return next((p for p, u in self.people.items() if u.id == user_id), None)


# -- leak detection in answers --------------------------------------------------------------
ID_KEYS = {"id", "chunk_id", "x"}


def _walk(value: Any, skip_keys: frozenset[str]) -> Iterator[tuple[str | None, Any]]:
    stack: list[tuple[str | None, Any]] = [(None, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend((k, v) for k, v in item.items() if k not in skip_keys)
        elif isinstance(item, list | tuple):
            stack.extend((key, v) for v in item)
        else:
            yield key, item


def leaks_in(
    world: World,
    actor: Actor,
    *,
    text: str,
    ok: bool,
    data: Any = None,
    skip_keys: Iterable[str] = (),
) -> list[str]:
    """What of the hidden world shows in one answer.

    `text` is everything the caller received (body, and headers where they carry data).
    Secrets count in any answer. Ids count in successful answers only: an error may quote the
    caller's own request back (PostgREST does), and an id the attacker sent is not news to
    them. `data`, the parsed body, is searched for hidden chunk ids under id-like keys;
    `skip_keys` are fields that echo the request (the MCP search result repeats the query).
    """
    found = sorted(s for s in world.secrets_hidden_from(actor) if s in text)
    if ok:
        skip = frozenset(skip_keys)
        strings = text
        if data is not None:
            strings = "\n".join(str(v) for _, v in _walk(data, skip))
        found += sorted(i for i in world.ids_hidden_from(actor) if i in strings)
        if data is not None:
            hidden_chunks = world.chunks_hidden_from(actor)
            found += sorted(
                f"chunk {v}"
                for k, v in _walk(data, skip)
                if k in ID_KEYS and isinstance(v, int) and v in hidden_chunks
            )
    return found


# -- what is really in the database -----------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    docs: dict[str, tuple[Any, ...]]  # id -> (owner, workspace, fields..., chunk digest)
    members: frozenset[tuple[str, str, str]]
    workspaces: frozenset[tuple[str, str]]
    grants: frozenset[tuple[str, str, str]]  # (user, client, access)
    invitations: frozenset[tuple[str, str, str]]  # (workspace, invitee, role)


def snapshot(db: psycopg.Connection, world: World) -> Snapshot:
    """Everything the world's people and workspaces hold, read as postgres (RLS bypassed)."""
    users, workspaces = world.user_ids, list(world.workspaces.values())
    docs = {
        str(row[0]): tuple(str(v) if v is not None else None for v in row[1:])
        for row in db.execute(
            """
            select d.id, d.owner_id, d.workspace_id, d.title, d.source, d.category,
                   d.metadata::text, d.content_hash, d.created_by_client, d.updated_at,
                   md5(d.content), md5(d.sections::text), d.embedding_status, d.embedding_error,
                   d.embedding_model,
                   exists (select 1 from public.vector_store v where v.id = d.id),
                   (select count(*) from public.document_chunks c where c.document_id = d.id),
                   (select md5(string_agg(c.id || ':' || c.chunk_index || ':' || c.content || ':'
                                          || c.owner_id || ':' || coalesce(c.workspace_id::text, '')
                                          || ':' || c.embedding::text, '|' order by c.id))
                      from public.document_chunks c where c.document_id = d.id)
            from public.documents d
            where d.owner_id = any(%s::uuid[]) or d.workspace_id = any(%s::uuid[])
            """,
            (users, workspaces),
        ).fetchall()
    }
    members = frozenset(
        (str(w), str(u), str(r))
        for w, u, r in db.execute(
            "select workspace_id, user_id, role from public.workspace_members "
            "where workspace_id = any(%s::uuid[]) or user_id = any(%s::uuid[])",
            (workspaces, users),
        ).fetchall()
    )
    spaces = frozenset(
        (str(i), str(n))
        for i, n in db.execute(
            "select id, name from public.workspaces where id = any(%s::uuid[])", (workspaces,)
        ).fetchall()
    )
    grants = frozenset(
        (str(u), str(c), str(a))
        for u, c, a in db.execute(
            "select user_id, client_id, access from public.agent_grants "
            "where user_id = any(%s::uuid[])",
            (users,),
        ).fetchall()
    )
    invitations = frozenset(
        (str(w), str(u), str(r))
        for w, u, r in db.execute(
            "select workspace_id, invitee_id, role from public.workspace_invitations "
            "where workspace_id = any(%s::uuid[]) or invitee_id = any(%s::uuid[])",
            (workspaces, users),
        ).fetchall()
    )
    return Snapshot(docs, members, spaces, grants, invitations)


def illegal_changes(world: World, actor: Actor, before: Snapshot, after: Snapshot) -> list[str]:
    """Changes between two snapshots that `actor` had no right to make.

    Attacks aim at what the actor may not touch, but some (an insert into the actor's own
    space) may legitimately succeed; those are judged by the same rules and are not leaks.
    """
    problems: list[str] = []
    by_id = {d.id: d for d in world.docs}
    writable = world.writable_workspaces(actor)
    for doc_id, old in before.docs.items():
        new = after.docs.get(doc_id)
        doc = by_id.get(doc_id)
        if new == old:
            continue
        if doc is None:  # an extra document made earlier in this run by its owner
            owner = world.person_of(str(old[0]))
            if owner != actor.person or not actor.allows(WRITE):
                problems.append(f"{'deleted' if new is None else 'changed'} extra doc {doc_id}")
            continue
        if new is None:
            if not world.can_write(actor, doc):
                problems.append(f"deleted {doc.label}")
        elif not world.can_write(actor, doc):
            problems.append(f"changed {doc.label}: {old} -> {new}")
        elif new[1] != old[1] and new[1] not in writable and new[1] is not None:
            problems.append(f"moved {doc.label} into a workspace the actor cannot write")
    for doc_id, new in after.docs.items():
        if doc_id in before.docs:
            continue
        owner_id, workspace_id = new[0], new[1]
        if (
            not actor.allows(WRITE)
            or owner_id != actor.user.id
            or (workspace_id is not None and workspace_id not in writable)
        ):
            problems.append(f"created doc {doc_id} owned by {owner_id} in {workspace_id}")
    if after.members != before.members:
        problems.append(f"memberships changed: {before.members ^ after.members}")
    if after.workspaces != before.workspaces:
        problems.append(f"workspaces changed: {before.workspaces ^ after.workspaces}")
    # No attack asks for a grant a person may make themselves: any change is a leak.
    if after.grants != before.grants:
        problems.append(f"agent grants changed: {before.grants ^ after.grants}")
    # Invitation attacks aim at workspaces the actor does not own: any change is a leak.
    if after.invitations != before.invitations:
        problems.append(f"invitations changed: {before.invitations ^ after.invitations}")
    return problems


def forget_extras(db: psycopg.Connection, world: World, before: Snapshot, after: Snapshot) -> None:
    """Remove what a legitimate write added, so every attack meets the same world."""
    known = {d.id for d in world.docs}
    extra = [i for i in after.docs if i not in before.docs and i not in known]
    if extra:
        db.execute("delete from public.documents where id = any(%s::uuid[])", (extra,))


@dataclass
class Tally:
    """Attempts and leaks per door, and the status codes the doors answered with."""

    attempts: Counter[str] = field(default_factory=Counter)
    leaks: dict[str, list[str]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)

    def count(self, door: str, kind: str, status: int | str, found: list[str]) -> None:
        self.attempts[f"{door}/{kind}"] += 1
        self.statuses[f"{door}:{status}"] += 1
        if found:
            self.leaks.setdefault(door, []).extend(found)

    def door_attempts(self, door: str) -> int:
        return sum(n for key, n in self.attempts.items() if key.startswith(door + "/"))

    def as_report(self) -> dict[str, Any]:
        doors = sorted({key.split("/")[0] for key in self.attempts})
        return {
            "attempts": sum(self.attempts.values()),
            "leaks": sum(len(v) for v in self.leaks.values()),
            "by_door": {
                door: {
                    "attempts": self.door_attempts(door),
                    "leaks": len(self.leaks.get(door, [])),
                }
                for door in doors
            },
            "by_attack": dict(sorted(self.attempts.items())),
            "statuses": dict(sorted(self.statuses.items())),
            "leak_details": {k: v[:20] for k, v in self.leaks.items()},
        }


# -- building it --------------------------------------------------------------------------------
def _body(marker: str, secret: str, topic: str) -> str:
    """Three paragraphs whose every sentence names the marker and the secret, so every chunk,
    however the chunker cuts, carries both."""
    paragraphs = []
    for p in range(3):
        sentences = [
            f"The {topic} note {p}.{i} under {marker} records {secret} for its readers only."
            for i in range(9)
        ]
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


def _agents(stack: LocalStack, people: dict[str, User], clients: dict[str, str]) -> list[Actor]:
    """Agents' tokens, each after what its user did on the consent page (or did not)."""
    ana, ben, cy, dee = people["ana"], people["ben"], people["cy"], people["dee"]
    # cy let agent w write, then revoked it, with her own token as the consent page would.
    granted = grant_through_rest(stack, stack.access_token(cy), clients["w"], "write")
    assert granted.status_code == 201, granted.text
    with rest_client(stack, stack.access_token(cy)) as http:
        revoked = http.delete("/agent_grants", params={"client_id": f"eq.{clients['w']}"})
    assert revoked.status_code == 204, revoked.text
    # dee's agent v tried to grant itself write: refused (only a user's own session grants).
    forging = stack.access_token(dee, client_id=clients["v"])
    assert grant_through_rest(stack, forging, clients["v"], "write").status_code == 403
    return [
        Actor(
            "ana-reader",
            "ana",
            ana,
            agent_token(stack, ana, "read", client_id=clients["r"]),
            clients["r"],
            "read",
        ),
        Actor(
            "ana-agent-y",
            "ana",
            ana,
            agent_token(stack, ana, "write", client_id=clients["y"]),
            clients["y"],
            "write",
        ),
        Actor(
            "ben-no-grant",
            "ben",
            ben,
            agent_token(stack, ben, None, client_id=clients["z"]),
            clients["z"],
        ),
        # Ana let y write; ben did not: y's token for ben gets nothing of ben's (or ana's).
        Actor(
            "ben-others-grant",
            "ben",
            ben,
            agent_token(stack, ben, None, client_id=clients["y"]),
            clients["y"],
        ),
        Actor("cy-revoked", "cy", cy, stack.access_token(cy, client_id=clients["w"]), clients["w"]),
        Actor("dee-forged-grant", "dee", dee, forging, clients["v"]),
    ]


def grant_through_rest(stack: LocalStack, token: str, client: str, access: str) -> httpx.Response:
    """The consent page's write: supabase-js's upsert into agent_grants with `token`."""
    with rest_client(stack, token) as http:
        return http.post(
            "/agent_grants",
            params={"on_conflict": "user_id,client_id"},
            json={"client_id": client, "access": access},
            headers={"Prefer": "resolution=merge-duplicates,return=representation"},
        )


def _vector(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in json.loads(text))


@contextmanager
def build_world(stack: LocalStack, edge: TestClient) -> Iterator[World]:
    """Create the world (users, seats, documents through the API), then remove it all."""
    run = secrets.token_hex(4)
    labels = ["ana", "ben", "cy", "dee", "eli", "out"]
    people = {p: stack.create_user(f"hostile-{p}-{run}@test.local") for p in labels}
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        workspaces: dict[str, str] = {}
        for label, owner in (("w1", "ana"), ("w2", "dee")):
            row = db.execute(
                "insert into public.workspaces (name, created_by) values (%s, %s) returning id",
                (f"hostile {label} {run}", people[owner].id),
            ).fetchone()
            assert row is not None
            workspaces[label] = str(row[0])
        # The creator trigger seats each owner; the rest are added here.
        roles = {
            ("ana", "w1"): "owner",
            ("ben", "w1"): "editor",
            ("cy", "w1"): "viewer",
            ("dee", "w2"): "owner",
            ("cy", "w2"): "editor",
            ("ana", "w2"): "viewer",
        }
        for (person, seat), role in roles.items():
            if role != "owner":
                db.execute(
                    "insert into public.workspace_members (workspace_id, user_id, role) "
                    "values (%s, %s, %s)",
                    (workspaces[seat], people[person].id, role),
                )
        try:
            clients = {label: str(uuid.uuid4()) for label in ("x", "r", "y", "z", "w", "v")}
            agent_x = agent_token(stack, people["ana"], "write", client_id=clients["x"])
            plan: list[tuple[str, str, str | None, str | None]] = [
                ("A-private", "ana", None, None),
                ("A-w1", "ana", "w1", None),
                ("A-w1-agent", "ana", "w1", agent_x),
                ("B-private", "ben", None, None),
                ("B-w1", "ben", "w1", None),
                ("C-private", "cy", None, None),
                ("C-w2", "cy", "w2", None),
                ("D-private", "dee", None, None),
                ("D-w2", "dee", "w2", None),
                ("E-private", "eli", None, None),
            ]
            docs: list[Doc] = []
            for (label, owner, ws, agent), topic in zip(plan, TOPICS, strict=True):
                marker, secret = word("mk"), word("sx")
                response = edge.post(
                    "/v1/documents",
                    headers=bearer(agent or stack.access_token(people[owner])),
                    json={
                        "title": f"{topic} {marker} {secret}",
                        "content": _body(marker, secret, topic),
                        "source": f"hostile/{label}/{secret}.md",
                        "category": "shared" if ws else f"cat-{owner}",
                        "metadata": {
                            "marker": marker,
                            "secret": secret,
                            "owner": owner,
                            "lang": "en" if len(docs) % 2 else "de",
                            "nested": {"marker": marker, "level": len(docs)},
                        },
                        "workspace_id": workspaces[ws] if ws else None,
                    },
                )
                assert response.status_code == 201, response.text
                doc_id = response.json()["document_id"]
                chunks = db.execute(
                    "select id, content, embedding::text from public.document_chunks "
                    "where document_id = %s order by chunk_index",
                    (doc_id,),
                ).fetchall()
                assert len(chunks) >= 2 and all(secret in c[1] for c in chunks)
                docs.append(
                    Doc(
                        id=doc_id,
                        label=label,
                        owner=owner,
                        workspace=ws,
                        marker=marker,
                        secret=secret,
                        created_by_client=clients["x"] if agent else None,
                        chunk_ids=tuple(int(c[0]) for c in chunks),
                        first_chunk_text=str(chunks[0][1]),
                        first_chunk_vector=_vector(str(chunks[0][2])),
                    )
                )
            # Every document also as LangChain's store knows it (a vector_store row: ids only;
            # the write-through trigger is skipped, the documents exist already).
            with db.transaction():
                db.execute("set local session_replication_role = replica")
                db.execute(
                    "insert into public.vector_store (id) select unnest(%s::uuid[])",
                    ([d.id for d in docs],),
                )
            actors = [Actor(p, p, people[p], stack.access_token(people[p])) for p in labels]
            actors += _agents(stack, people, clients)
            yield World(people, workspaces, roles, docs, actors, clients)
        finally:
            db.execute(
                "delete from auth.users where id = any(%s::uuid[])",
                ([u.id for u in people.values()],),
            )
            db.execute(
                "delete from public.workspaces where id = any(%s::uuid[])",
                (list(workspaces.values()),),
            )
