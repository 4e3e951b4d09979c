"""The commands on many documents at once: keep a folder in sync, export, import.

A folder's documents are the caller's own documents whose metadata says `synced_from` that folder
(its absolute path, or --name), in the chosen workspace (or private); each is matched to its file
by `source`, the file's path inside the folder. A file is new when no document has its path,
changed when its bytes' sha256 differs from the one the API recorded (`metadata.file.sha256`) or
its document failed to embed, and gone when no readable or unreadable file has that path any
more. A changed file replaces its document's text in place (same id; only changed passages are
embedded again). Running it twice in a row changes nothing the second time.
"""

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from api.cli.client import (
    OK,
    PARTLY,
    Api,
    ApiError,
    ProgressBar,
    emit,
    token_claims,
    warn,
)
from api.cli.commands import SUFFIXES, upload

SYNC_KEY = "synced_from"
# A document's fields that an export keeps and an import sends back.
EXPORTED = ("title", "content", "sections", "source", "category", "metadata")


@dataclass
class Plan:
    add: list[str] = field(default_factory=list)  # paths
    update: list[tuple[str, str]] = field(default_factory=list)  # (path, document id)
    delete: list[tuple[str, str]] = field(default_factory=list)  # (source, document id)
    unchanged: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)  # path: why


def local_files(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """sha256 of each file we read under `root`, by its path inside it; and the files that could
    not be read, with why (reported, and their documents kept)."""
    hashes: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        try:
            hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as error:
            unreadable[name] = error.strerror or type(error).__name__
    return hashes, unreadable


def plan_sync(
    hashes: dict[str, str], unreadable: dict[str, str], documents: list[dict[str, Any]]
) -> Plan:
    plan = Plan(unreadable=dict(unreadable))
    by_source: dict[str, dict[str, Any]] = {}
    for document in sorted(documents, key=lambda d: (d["created_at"], d["id"])):
        source = document["source"] or ""
        if source in by_source:  # two documents for one file: the older one stays
            plan.delete.append((source, document["id"]))
        else:
            by_source[source] = document
    for name, digest in hashes.items():
        found = by_source.get(name)
        if found is None:
            plan.add.append(name)
        elif _file_hash(found) != digest or found["embedding_status"] == "failed":
            plan.update.append((name, found["id"]))
        else:
            plan.unchanged += 1
    for source, document in by_source.items():
        if source not in hashes and source not in unreadable:
            plan.delete.append((source, document["id"]))
    return plan


def _file_hash(document: dict[str, Any]) -> str | None:
    """The sha256 of the file a document was last made from, as the API recorded it."""
    described = document["metadata"].get("file")
    return described.get("sha256") if isinstance(described, dict) else None


def sync(api: Api, args: argparse.Namespace) -> int:
    root = Path(args.folder)
    if not root.is_dir():
        raise ApiError(404, "no_such_folder", f"{root}: not a folder", local=True)
    label = args.name or str(root.resolve())
    me = token_claims(api.token)["sub"]
    listed = api.pages(
        {
            "limit": 100,
            "metadata": json.dumps({SYNC_KEY: label}),
            **({"workspace_id": args.workspace} if args.workspace else {}),
        }
    )
    mine = [
        d for d in listed if d["owner_id"] == me and d["workspace_id"] == (args.workspace or None)
    ]
    hashes, unreadable = local_files(root)
    plan = plan_sync(hashes, unreadable, mine)
    for name, why in plan.unreadable.items():
        warn(f"{root / name}: cannot read it ({why}); its document, if any, is kept")
    report: dict[str, Any] = {
        "folder": str(root),
        "name": label,
        "dry_run": args.dry_run,
        "added": [],
        "updated": [],
        "deleted": [],
        "unchanged": plan.unchanged,
        "failed": [{"path": name, "error": why} for name, why in plan.unreadable.items()],
    }
    if args.dry_run:
        report["added"] = [{"path": name} for name in plan.add]
        report["updated"] = [{"path": name, "id": i} for name, i in plan.update]
        report["deleted"] = [{"path": name, "id": i} for name, i in plan.delete]
        _summary(report, args.json)
        return PARTLY if report["failed"] else OK

    metadata = {**(args.metadata or {}), SYNC_KEY: label}
    fields = {"metadata": json.dumps(metadata)}
    if args.category:
        fields["category"] = args.category
    new_fields = {**fields, **({"workspace_id": args.workspace} if args.workspace else {})}
    # (report key, path, document to replace or delete, or None to add)
    steps: list[tuple[str, str, str | None]] = [
        *(("added", name, None) for name in plan.add),
        *(("updated", name, i) for name, i in plan.update),
        *(("deleted", name, i) for name, i in plan.delete),
    ]
    bar = ProgressBar(len(steps), "sync")
    for done, (kind, name, document_id) in enumerate(steps, start=1):
        try:
            if kind == "deleted":
                assert document_id is not None
                _delete(api, document_id)
            else:
                form = {"source": name, **(new_fields if kind == "added" else fields)}
                status = upload(api, root / name, form, follow=True, bar=bar, replace=document_id)
                document_id = status["document_id"]
            report[kind].append({"path": name, "id": document_id})
        except ApiError as error:
            if error.fatal:
                raise
            report["failed"].append({"path": name, "error": str(error)})
            bar.say(f"kb: {root / name}: {error}")
        except OSError as error:  # the file went away or became unreadable meanwhile
            report["failed"].append({"path": name, "error": error.strerror})
            bar.say(f"kb: {root / name}: {error.strerror}")
        bar.update(done, name)
    bar.close()
    _summary(report, args.json)
    return PARTLY if report["failed"] else OK


def _delete(api: Api, document_id: str) -> None:
    try:
        api.call("DELETE", f"/v1/documents/{document_id}")
    except ApiError as error:
        if error.status != 404:  # gone already is what we wanted
            raise


def _summary(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(report)
    verb = "would be" if report["dry_run"] else ""
    counts = ", ".join(f"{len(report[k])} {k}" for k in ("added", "updated", "deleted"))
    if report["dry_run"] and not as_json:
        for kind in ("added", "updated", "deleted"):
            for item in report[kind]:
                print(f"{kind[:-1] if kind != 'added' else 'add'}: {item['path']}")
    warn(
        f"{report['folder']}: {counts} {verb}".rstrip()
        + f"; {report['unchanged']} unchanged, {len(report['failed'])} failed"
    )


def export(api: Api, args: argparse.Namespace) -> int:
    me = token_claims(api.token)["sub"]
    params: dict[str, Any] = {"limit": 100}
    if args.workspace:
        params["workspace_id"] = args.workspace
    if args.category:
        params["category"] = args.category
    listed = [d for d in api.pages(params) if d["owner_id"] == me]
    seen: set[str] = set()
    out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for item in listed:
            if item["id"] in seen:  # a page boundary moved by a concurrent write
                continue
            seen.add(item["id"])
            document = api.json("GET", f"/v1/documents/{item['id']}")
            line = {
                "id": document["id"],
                "workspace_id": document["workspace_id"],
                "created_at": document["created_at"],
            }
            line.update({key: document[key] for key in EXPORTED})
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    warn(f"{len(seen)} documents exported")
    return OK


def import_(api: Api, args: argparse.Namespace) -> int:
    source: TextIO = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    with source:
        lines = [(n, text) for n, text in enumerate(source, start=1) if text.strip()]
    bar = ProgressBar(len(lines), "import")
    results: list[dict[str, Any]] = []
    for done, (number, text) in enumerate(lines, start=1):
        try:
            body = _document_of(text, args.workspace)
            params = {"wait": "0"} if args.no_wait else {}
            status = api.json("POST", "/v1/documents", json=body, params=params)
            if not args.no_wait and status["embedding_status"] == "pending":
                status = {**status, **api.wait_until_settled(status["document_id"], bar)}
            if status["embedding_status"] == "failed":
                raise ApiError(422, "embedding_failed", status.get("embedding_error") or "")
            results.append(
                {"line": number, "id": status["document_id"], "created": status["created"]}
            )
        except ApiError as error:
            if error.fatal:
                raise
            results.append({"line": number, "error": error.as_json()})
            bar.say(f"kb: line {number}: {error}")
        bar.update(done)
    bar.close()
    failed = sum(1 for r in results if "error" in r)
    if args.json:
        emit(results)
    created = sum(1 for r in results if r.get("created"))
    warn(f"{len(results) - failed} of {len(results)} documents imported ({created} new)")
    return PARTLY if failed else OK


def _document_of(text: str, workspace: str | None) -> dict[str, Any]:
    """An exported line as a new document: its fields, in `workspace` or private (ids of the
    exporting project's workspaces mean nothing to the importing user)."""
    try:
        line = json.loads(text)
    except ValueError as error:
        raise ApiError(400, "invalid_line", f"not JSON: {error}", local=True) from None
    if not isinstance(line, dict) or not isinstance(line.get("content"), str):
        raise ApiError(
            400, "invalid_line", "a line must be a JSON object with a `content` text", local=True
        )
    body = {key: line[key] for key in EXPORTED if line.get(key) is not None}
    if workspace:
        body["workspace_id"] = workspace
    return body
