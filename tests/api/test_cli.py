"""`kb` as a user would run it, against the stack's own API daemon: ingest and search, list,
show and delete, keep a folder in sync, export and import into another user, workspaces, and
what it says (and exits with) when something is wrong."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack
from local_stack.users import User
from samples.files import encrypt_pdf, make_docx, make_pdf
from tests.support import make_user


@dataclass
class Person:
    user: User
    token: str
    stack: LocalStack

    def kb(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return kb(self.stack, *args, token=self.token, stdin=stdin)


def kb(
    stack: LocalStack, *args: str, token: str | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KB_ACCESS_TOKEN"}
    env["KB_API_URL"] = stack.settings.edge_api_url
    if token is not None:
        env["KB_ACCESS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def person(stack: LocalStack, label: str) -> Iterator[Person]:
    user = make_user(stack, label)
    yield Person(user, stack.access_token(user), stack)
    stack.delete_user(user)


@pytest.fixture
def alice(stack: LocalStack) -> Iterator[Person]:
    yield from person(stack, "cli-alice")


@pytest.fixture
def bob(stack: LocalStack) -> Iterator[Person]:
    yield from person(stack, "cli-bob")


def documents_of(db: psycopg.Connection, user: User) -> dict[str, tuple[str, str]]:
    """source: (title, text) of each document the user owns."""
    rows = db.execute(
        "select source, title, content from public.documents where owner_id = %s", (user.id,)
    ).fetchall()
    return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}


def test_ingest_a_folder_then_search_it(alice: Person, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex[:8]
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "keys.md").write_text(
        f"# Rotating keys {marker}\n\nCreate a standby signing key, then promote it.\n"
    )
    (tmp_path / "backups.txt").write_text(
        f"Backups {marker} run nightly at 02:00 UTC and are kept for seven days."
    )
    (tmp_path / "image.png").write_bytes(b"\x89PNG not text")  # skipped: not a format we read

    result = alice.kb("ingest", str(tmp_path), "--category", "ops")
    assert result.returncode == 0, result.stderr
    assert "2 of 2 files stored" in result.stderr

    found = alice.kb("search", "when do backups run", "-k", "2", "--category", "ops", "--json")
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)[0]
    assert top["title"] == "backups"
    assert top["metadata"]["path"].endswith("backups.txt")
    found = alice.kb("search", "signing key", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert f"Rotating keys {marker}" in found.stdout


def test_every_format_and_the_files_it_refuses(alice: Person, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex[:8]
    (tmp_path / "manual.pdf").write_bytes(
        make_pdf([["Intro"], [f"The {marker} turbine is serviced every six months."]])
    )
    (tmp_path / "policy.docx").write_bytes(
        make_docx([("h1", "Policy"), ("h2", "Visitors"), ("p", f"Visitors sign the {marker} log.")])
    )
    (tmp_path / "page.html").write_bytes(
        f"<html><body><nav>menu</nav><h1>Canteen</h1><p>Lunch {marker} is at noon.</p>"
        "</body></html>".encode()
    )
    (tmp_path / "notes.rst").write_text(f"Parking {marker} is behind building C.\n")
    (tmp_path / "locked.pdf").write_bytes(encrypt_pdf(make_pdf([["secret"]]), "pw"))

    result = alice.kb("ingest", str(tmp_path))
    assert result.returncode == 1, result.stderr  # one file refused, the others stored
    assert "4 of 5 files stored" in result.stderr
    assert "locked.pdf: 422 encrypted_pdf" in result.stderr
    found = alice.kb("search", f"{marker} turbine service interval", "-k", "1")
    assert found.returncode == 0, found.stderr
    assert "manual.pdf, pages 1-2" in found.stdout  # a short PDF: one passage
    found = alice.kb("search", f"who signs the {marker} log", "-k", "1", "--json")
    top = json.loads(found.stdout)[0]
    assert top["location"] == {"headings": ["Policy", "Visitors"]}
    assert top["title"] == "Policy"
    # The marker is a word of all four files: keyword mode, each document once.
    found = alice.kb("search", marker, "--mode", "keyword", "--group-by", "document", "-k", "10")
    assert found.returncode == 0, found.stderr
    found = alice.kb(
        "search", marker, "--mode", "keyword", "--group-by", "document", "-k", "10", "--json"
    )
    hits = json.loads(found.stdout)
    assert len({h["document_id"] for h in hits}) == len(hits) == 4


def test_list_show_and_delete(alice: Person, tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Alpha\n\n## One\n\nThe first note.\n")
    (tmp_path / "b.txt").write_text("The second note.")
    assert alice.kb("ingest", str(tmp_path), "--category", "notes").returncode == 0

    listed = alice.kb("list", "--category", "notes", "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert {i["title"] for i in items} == {"Alpha", "b"}
    assert {i["embedding_status"] for i in items} == {"ready"}
    alpha = next(i["id"] for i in items if i["title"] == "Alpha")

    shown = alice.kb("show", alpha)
    assert shown.returncode == 0, shown.stderr
    assert "status:    ready" in shown.stdout and "[0] Alpha > One" in shown.stdout
    detail = json.loads(alice.kb("show", alpha, "--json").stdout)
    assert detail["passages"][-1]["location"] == {"headings": ["Alpha", "One"]}
    assert alice.kb("show", alpha, "--text").stdout.strip() == detail["content"]

    unknown = str(uuid.uuid4())
    gone = alice.kb("delete", alpha, unknown, "--json")
    assert gone.returncode == 1, gone.stderr  # one of two: the unknown one is named
    assert unknown in gone.stderr and "not_found" in gone.stderr
    assert [r["deleted"] for r in json.loads(gone.stdout)] == [True, False]
    assert [i["title"] for i in json.loads(alice.kb("list", "--json").stdout)] == ["b"]
    assert alice.kb("show", alpha).returncode == 4  # refused: not found


@pytest.fixture
def unreadable(tmp_path: Path) -> Path:
    """A file that exists and cannot be read, even by root (which reads any file mode): a name
    for /proc/self/mem, which gives EIO at offset 0."""
    path = tmp_path / "locked.md"
    path.symlink_to("/proc/self/mem")
    return path


def test_sync_keeps_a_folder_and_its_documents_alike(
    alice: Person, tmp_path: Path, db: psycopg.Connection
) -> None:
    folder = tmp_path / "docs"
    (folder / "team").mkdir(parents=True)
    (folder / "keep.md").write_text("# Keep\n\nThis one stays as it is.\n")
    (folder / "change.txt").write_text("The office opens at nine.")
    (folder / "team" / "remove.md").write_text("# Remove\n\nThis one will be deleted.\n")

    planned = alice.kb("sync", str(folder), "--dry-run", "--json")
    assert planned.returncode == 0, planned.stderr
    assert len(json.loads(planned.stdout)["added"]) == 3
    assert documents_of(db, alice.user) == {}  # a dry run changes nothing

    first = alice.kb("sync", str(folder), "--json")
    assert first.returncode == 0, first.stderr
    assert sorted(a["path"] for a in json.loads(first.stdout)["added"]) == [
        "change.txt",
        "keep.md",
        "team/remove.md",
    ]
    again = json.loads(alice.kb("sync", str(folder), "--json").stdout)
    assert (again["added"], again["updated"], again["deleted"]) == ([], [], [])
    assert again["unchanged"] == 3  # idempotent
    before = documents_of(db, alice.user)
    ids = {
        str(source): str(i)
        for source, i in db.execute(
            "select source, id from public.documents where owner_id = %s", (alice.user.id,)
        ).fetchall()
    }

    (folder / "change.txt").write_text("The office opens at ten.")
    (folder / "team" / "remove.md").unlink()
    result = alice.kb("sync", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [u["path"] for u in report["updated"]] == ["change.txt"]
    assert [d["path"] for d in report["deleted"]] == ["team/remove.md"]
    after = documents_of(db, alice.user)
    assert after == {
        "keep.md": before["keep.md"],
        "change.txt": ("change", "The office opens at ten."),
    }
    # The changed file's document was replaced in place, and is searchable with its new text.
    assert db.execute(
        "select id::text, embedding_status from public.documents where source = 'change.txt' "
        "and owner_id = %s",
        (alice.user.id,),
    ).fetchone() == (ids["change.txt"], "ready")
    found = json.loads(alice.kb("search", "When does the office open?", "--json").stdout)
    assert found[0]["content"] == "The office opens at ten."


def test_sync_reports_unreadable_files_and_syncs_the_rest(
    alice: Person, tmp_path: Path, unreadable: Path, db: psycopg.Connection
) -> None:
    (tmp_path / "fine.md").write_text("# Fine\n\nReadable.\n")
    (tmp_path / "scan.pdf").write_bytes(make_pdf([[], []]))  # no text layer: the API refuses it
    result = alice.kb("sync", str(tmp_path), "--json")
    assert result.returncode == 1, result.stderr
    assert "locked.md: cannot read it" in result.stderr
    assert "scan.pdf: 422 no_text_layer" in result.stderr
    report = json.loads(result.stdout)
    assert [a["path"] for a in report["added"]] == ["fine.md"]
    assert {f["path"] for f in report["failed"]} == {"locked.md", "scan.pdf"}
    assert set(documents_of(db, alice.user)) == {"fine.md"}


def test_export_then_import_into_another_user(
    alice: Person, bob: Person, tmp_path: Path, db: psycopg.Connection
) -> None:
    empty = alice.kb("export")
    assert (empty.returncode, empty.stdout) == (0, "")  # nothing yet: empty, not an error

    (tmp_path / "guide.md").write_text("# Guide\n\n## Keys\n\nRotate keys every 90 days.\n")
    (tmp_path / "manual.pdf").write_bytes(make_pdf([["Page one."], ["Page two."]]))
    assert alice.kb("ingest", str(tmp_path), "--metadata", '{"lang": "en"}').returncode == 0
    exported = alice.kb("export")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(lines) == 2 and all(line["content"] for line in lines)

    imported = bob.kb("import", "-", "--json", stdin=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert [r["created"] for r in json.loads(imported.stdout)] == [True, True]

    def documents(user: User) -> list[tuple[Any, ...]]:
        return db.execute(
            "select title, content, source, category, metadata, sections, "
            "array(select location from public.document_chunks c where c.document_id = d.id "
            "      order by chunk_index)::text, embedding_status "
            "from public.documents d where owner_id = %s order by title",
            (user.id,),
        ).fetchall()

    assert documents(bob.user) == documents(alice.user)
    # Importing again adds nothing: the same text in the same place is the same document.
    again = bob.kb("import", "-", "--json", stdin=exported.stdout)
    assert [r["created"] for r in json.loads(again.stdout)] == [False, False]
    bad = bob.kb("import", "-", stdin='{"title": "no text"}\nnot json\n')
    assert bad.returncode == 1
    assert "line 1: invalid_line" in bad.stderr and "line 2: invalid_line" in bad.stderr


def test_workspaces_invite_accept_roles_and_removal(alice: Person, bob: Person) -> None:
    created = json.loads(alice.kb("workspaces", "create", "CLI team", "--json").stdout)
    assert created["role"] == "owner"
    workspace = created["id"]
    bob_id = json.loads(bob.kb("whoami", "--json").stdout)["sub"]
    assert bob_id == bob.user.id

    # Nobody is made a member: a role for someone who is not one is refused (exit 4).
    direct = alice.kb("workspaces", "role", workspace, bob_id, "--role", "editor")
    assert direct.returncode == 4 and "invite them" in direct.stderr, direct.stderr
    invited = alice.kb("workspaces", "invite", workspace, bob_id, "--role", "editor", "--json")
    assert invited.returncode == 0, invited.stderr
    assert json.loads(invited.stdout)["role"] == "editor"
    pending = json.loads(alice.kb("workspaces", "invitations", workspace, "--json").stdout)
    assert [(i["invitee_id"], i["role"]) for i in pending] == [(bob_id, "editor")]
    # Invited is not a member yet: bob sees the invitation (with the name), not the workspace.
    assert json.loads(bob.kb("workspaces", "list", "--json").stdout) == []
    mine = json.loads(bob.kb("workspaces", "invitations", "--json").stdout)
    assert [(i["workspace_id"], i["workspace_name"]) for i in mine] == [(workspace, "CLI team")]
    accepted = bob.kb("workspaces", "accept", workspace, "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["role"] == "editor"
    assert json.loads(bob.kb("workspaces", "invitations", "--json").stdout) == []
    members = json.loads(alice.kb("workspaces", "members", workspace, "--json").stdout)
    assert {(m["user_id"], m["role"]) for m in members} == {
        (alice.user.id, "owner"),
        (bob_id, "editor"),
    }
    assert [w["role"] for w in json.loads(bob.kb("workspaces", "list", "--json").stdout)] == [
        "editor"
    ]
    demoted = alice.kb("workspaces", "role", workspace, bob_id, "--role", "viewer", "--json")
    assert json.loads(demoted.stdout)["role"] == "viewer", demoted.stderr
    # A member who is not an owner may not manage members: refused, exit 4.
    refused = bob.kb("workspaces", "role", workspace, alice.user.id, "--role", "viewer")
    assert refused.returncode == 4 and "403" in refused.stderr, refused.stderr
    # Accepting without an invitation, or again: nothing to accept.
    again = bob.kb("workspaces", "accept", workspace)
    assert again.returncode == 4 and "no invitation" in again.stderr, again.stderr

    assert alice.kb("workspaces", "remove", workspace, bob_id).returncode == 0
    assert json.loads(bob.kb("workspaces", "list", "--json").stdout) == []
    # Invited again, bob declines; invited once more, alice withdraws it.
    alice.kb("workspaces", "invite", workspace, bob_id)
    assert bob.kb("workspaces", "decline", workspace).returncode == 0
    assert json.loads(bob.kb("workspaces", "invitations", "--json").stdout) == []
    alice.kb("workspaces", "invite", workspace, bob_id)
    assert alice.kb("workspaces", "withdraw", workspace, bob_id).returncode == 0
    assert json.loads(bob.kb("workspaces", "invitations", "--json").stdout) == []
    gone = alice.kb("workspaces", "withdraw", workspace, bob_id)
    assert gone.returncode == 4 and "no invitation" in gone.stderr, gone.stderr


def test_agents_granted_then_revoked(stack: LocalStack, alice: Person, tmp_path: Path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# Keys\n\nRotate the signing key every ninety days.\n")
    assert alice.kb("ingest", str(note)).returncode == 0
    client = str(uuid.uuid4())
    agent = Person(alice.user, stack.access_token(alice.user, client_id=client), stack)

    def seen_by_agent() -> list[str]:
        listed = agent.kb("list", "--json")
        assert listed.returncode == 0, listed.stderr
        return [d["title"] for d in json.loads(listed.stdout)]

    # No grant yet: the agent sees nothing of alice's.
    assert seen_by_agent() == []
    granted = alice.kb(
        "agents", "grant", client, "--access", "read", "--name", "CLI agent", "--json"
    )
    assert granted.returncode == 0, granted.stderr
    assert json.loads(granted.stdout)["access"] == "read"
    listed = json.loads(alice.kb("agents", "list", "--json").stdout)
    assert [(g["client_id"], g["access"], g["client_name"]) for g in listed] == [
        (client, "read", "CLI agent")
    ]
    assert seen_by_agent() == ["Keys"]
    # An agent may not change grants, not even its own.
    self_grant = agent.kb("agents", "grant", client, "--access", "write")
    assert self_grant.returncode == 4, self_grant.stderr
    assert alice.kb("agents", "revoke", client).returncode == 0
    assert json.loads(alice.kb("agents", "list", "--json").stdout) == []
    assert seen_by_agent() == []
    missing = alice.kb("agents", "revoke", client)
    assert missing.returncode == 4 and "no grant" in missing.stderr


def test_what_it_says_when_something_is_wrong(stack: LocalStack, alice: Person) -> None:
    missing = kb(stack, "search", "anything")
    assert missing.returncode == 3 and "no access token" in missing.stderr
    forged = kb(stack, "list", token=alice.token[:-4] + "AAAA")
    assert forged.returncode == 3 and "401" in forged.stderr
    usage = alice.kb("search", "x", "-k", "500")
    assert usage.returncode == 2 and "not between 1 and 100" in usage.stderr
    down = kb(stack, "--api-url", "http://127.0.0.1:9", "list", token=alice.token)
    assert down.returncode == 5 and "cannot reach the API" in down.stderr
    nothing = alice.kb("ingest", "/nonexistent/folder")
    assert nothing.returncode == 4 and "no such file" in nothing.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["ingest"],
        ["search"],
        ["list"],
        ["show"],
        ["delete"],
        ["sync"],
        ["export"],
        ["import"],
        ["workspaces"],
        ["agents"],
        ["whoami"],
    ],
)
def test_every_command_explains_itself(stack: LocalStack, command: list[str]) -> None:
    result = kb(stack, *command, "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "exit codes:" in result.stdout
    assert "--json" in result.stdout
    if command == ["ingest"]:
        for word in ("PDF", ".docx", "HTML", "Markdown", "page"):
            assert word in result.stdout
