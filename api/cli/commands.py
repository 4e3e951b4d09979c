"""The commands on one thing at a time: search, ingest files, list, show, delete, workspaces."""

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

# What the API reads (it detects the format from the content); folders are walked for these.
SUFFIXES = {".md", ".markdown", ".txt", ".rst", ".pdf", ".docx", ".html", ".htm"}


def find_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        elif path.is_file():
            yield path
        else:
            raise ApiError(404, "no_such_file", f"{path}: no such file or folder", local=True)


def upload(
    api: Api,
    path: Path,
    form: dict[str, str],
    *,
    follow: bool,
    bar: ProgressBar | None = None,
    replace: str | None = None,
) -> dict[str, Any]:
    """Send one file (POST, or PUT over the document `replace`); with `follow`, until it is
    searchable. A file that could not be embedded is an error like a refused one."""
    params = {} if follow else {"wait": "0"}
    with path.open("rb") as handle:
        files = {"file": (path.name, handle)}
        if replace is None:
            response = api.call(
                "POST", "/v1/documents/upload", files=files, data=form, params=params
            )
        else:
            response = api.call(
                "PUT", f"/v1/documents/{replace}/file", files=files, data=form, params=params
            )
    status: dict[str, Any] = response.json()
    if follow and status["embedding_status"] == "pending":
        status = {**status, **api.wait_until_settled(status["document_id"], bar)}
    if status["embedding_status"] == "failed":
        raise ApiError(422, "embedding_failed", status.get("embedding_error") or "not embedded")
    return status


def ingest(api: Api, args: argparse.Namespace) -> int:
    files = list(find_files([Path(p) for p in args.paths]))
    if not files:
        raise ApiError(
            404, "no_files", "no PDF, DOCX, HTML, Markdown or text files found", local=True
        )
    bar = ProgressBar(len(files), "ingest")
    results: list[dict[str, Any]] = []
    for done, path in enumerate(files, start=1):
        # The API reads the file (format, title, structure); the CLI only sends it.
        form: dict[str, str] = {
            "source": str(path),
            "metadata": json.dumps({**(args.metadata or {}), "path": str(path)}),
        }
        if args.category:
            form["category"] = args.category
        if args.workspace:
            form["workspace_id"] = args.workspace
        try:
            status = upload(api, path, form, follow=not args.no_wait, bar=bar)
            results.append({"path": str(path), **status})
        except ApiError as error:
            if error.fatal:
                raise
            results.append({"path": str(path), "error": error.as_json()})
            bar.say(f"kb: {path}: {error}")
        bar.update(done, path.name)
    bar.close()
    failed = sum(1 for r in results if "error" in r)
    if args.json:
        emit(results)
    warn(f"{len(files) - failed} of {len(files)} files stored")
    return PARTLY if failed else OK


def search(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "query": args.query,
        "k": args.k,
        "mode": args.mode,
        "group_by": args.group_by,
    }
    for key, value in (
        ("threshold", args.threshold),
        ("category", args.category),
        ("workspace_id", args.workspace),
        ("metadata", args.metadata),
    ):
        if value is not None:
            body[key] = value
    results = api.json("POST", "/v1/search", json=body)["results"]
    if args.json:
        emit(results)
        return OK
    if not results:
        print("no results")
    for rank, hit in enumerate(results, start=1):
        where = hit["source"] or hit["document_id"]
        print(f"{rank}. {hit['title']}  [{hit['score']:.3f}]  {where}{cite(hit)}")
        print("   " + " ".join(hit["content"].split())[:300])
    return OK


def cite(hit: dict[str, Any]) -> str:
    """Where the passage is: its page(s) or heading path when the file had them."""
    place = where(hit.get("location") or {})
    return f", {place}" if place else f"#{hit['chunk_index']}"


def where(location: dict[str, Any]) -> str:
    if "page" in location:
        return f"page {location['page']}"
    if "pages" in location:
        return f"pages {location['pages'][0]}-{location['pages'][-1]}"
    return " > ".join(location.get("headings") or [])


def list_documents(api: Api, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    for key, value in (
        ("category", args.category),
        ("workspace_id", args.workspace),
        ("source", args.source),
        ("metadata", json.dumps(args.metadata) if args.metadata else None),
    ):
        if value is not None:
            params[key] = value
    if args.all:
        items = api.pages(params)
        total: int | None = len(items)
    else:
        page = api.json("GET", "/v1/documents", params={**params, "offset": args.offset})
        items, total = page["items"], page["total"]
    if args.json:
        emit(items)
        return OK
    for item in items:
        status = item["embedding_status"]
        if status == "pending" and item.get("passages_total"):
            status += f" {item['passages_embedded'] or 0}/{item['passages_total']}"
        print(f"{item['id']}  {status:<8}  {item['title']}  {item['source'] or ''}".rstrip())
    shown = len(items)
    warn(f"{shown} of {total if total is not None else '?'} documents")
    return OK


def show(api: Api, args: argparse.Namespace) -> int:
    document = api.json("GET", f"/v1/documents/{args.id}")
    if args.json:
        emit(document)
        return OK
    if args.text:
        print(document["content"] or "")
        return OK
    status = document["embedding_status"]
    if document.get("embedding_error"):
        status += f" ({document['embedding_error']})"
    fields = {
        "id": document["id"],
        "title": document["title"],
        "status": status,
        "source": document["source"],
        "category": document["category"],
        "workspace": document["workspace_id"],
        "model": document["embedding_model"],
        "updated": document["updated_at"],
        "metadata": json.dumps(document["metadata"], ensure_ascii=False),
    }
    for key, value in fields.items():
        if value is not None:
            print(f"{key + ':':<10} {value}")
    passages = document["passages"]
    print(f"\n{len(passages)} passage{'' if len(passages) == 1 else 's'}:")
    for passage in passages:
        place = where(passage["location"])
        print(f"\n[{passage['chunk_index']}]" + (f" {place}" if place else ""))
        print(passage["content"])
    return OK


def delete(api: Api, args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    for document_id in args.ids:
        try:
            api.call("DELETE", f"/v1/documents/{document_id}")
            results.append({"id": document_id, "deleted": True})
        except ApiError as error:
            if error.fatal:
                raise
            results.append({"id": document_id, "deleted": False, "error": error.as_json()})
            warn(f"{document_id}: {error}")
    if args.json:
        emit(results)
    failed = sum(1 for r in results if not r["deleted"])
    warn(f"{len(results) - failed} of {len(results)} documents deleted")
    return PARTLY if failed else OK


def whoami(api: Api, args: argparse.Namespace) -> int:
    claims = token_claims(api.token)
    me = {key: claims.get(key) for key in ("sub", "email", "role", "client_id", "scope", "exp")}
    if args.json:
        emit(me)
    else:
        print(f"{me['sub']}  {me['email'] or ''}".rstrip())
    return OK


def answered(args: argparse.Namespace, answer: Any, lines: list[str]) -> int:
    """The API's answer as JSON (--json), or as lines for a person."""
    if args.json:
        emit(answer)
    else:
        print("\n".join(lines))
    return OK


def workspaces(api: Api, args: argparse.Namespace) -> int:
    action = args.action
    if action == "list":
        answer: Any = api.json("GET", "/v1/workspaces")
        lines = [f"{w['id']}  {w['role']:<6}  {w['name']}" for w in answer]
    elif action == "create":
        answer = api.json("POST", "/v1/workspaces", json={"name": args.name})
        lines = [f"{answer['id']}  {answer['role']:<6}  {answer['name']}"]
    elif action == "members":
        answer = api.json("GET", f"/v1/workspaces/{args.workspace}/members")
        lines = [f"{m['user_id']}  {m['role']}" for m in answer]
    elif action in ("invite", "role"):
        kind = "invitations" if action == "invite" else "members"
        answer = api.json(
            "PUT", f"/v1/workspaces/{args.workspace}/{kind}/{args.user}", json={"role": args.role}
        )
        lines = [
            f"{args.user}  {answer['role']}" + ("  (invited)" if kind == "invitations" else "")
        ]
    elif action == "invitations":
        where = f"/v1/workspaces/{args.workspace}" if args.workspace else "/v1"
        answer = api.json("GET", f"{where}/invitations")
        lines = [
            f"{i['workspace_id']}  {i['role']:<6}  {i['invitee_id']}  {i['workspace_name'] or ''}"
            for i in answer
        ]
    elif action == "accept":
        answer = api.json("POST", f"/v1/invitations/{args.workspace}/accept")
        lines = [f"{answer['workspace_id']}  {answer['role']}"]
    elif action in ("decline", "withdraw"):
        user = args.user if action == "withdraw" else token_claims(api.token).get("sub")
        api.call("DELETE", f"/v1/workspaces/{args.workspace}/invitations/{user}")
        answer = {"workspace_id": args.workspace, "invitee_id": user, action + "d": True}
        lines = [f"invitation of {user} to {args.workspace} {action}d"]
    else:  # remove
        api.call("DELETE", f"/v1/workspaces/{args.workspace}/members/{args.user}")
        answer = {"workspace_id": args.workspace, "user_id": args.user, "removed": True}
        lines = [f"{args.user} removed"]
    return answered(args, answer, lines)


def agents(api: Api, args: argparse.Namespace) -> int:
    if args.action == "list":
        answer: Any = api.json("GET", "/v1/agent-grants")
        lines = [f"{g['client_id']}  {g['access']:<5}  {g['client_name'] or ''}" for g in answer]
    elif args.action == "grant":
        body = {"access": args.access} | ({"client_name": args.name} if args.name else {})
        answer = api.json("PUT", f"/v1/agent-grants/{args.client}", json=body)
        lines = [f"{answer['client_id']}  {answer['access']}"]
    else:  # revoke
        api.call("DELETE", f"/v1/agent-grants/{args.client}")
        answer = {"client_id": args.client, "revoked": True}
        lines = [f"{args.client} revoked"]
    return answered(args, answer, lines)
