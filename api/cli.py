"""`kb`: the knowledge base from a terminal, as a given user, through the API.

    kb ingest docs/ manual.pdf --category handbook   add files, and folders of them
    kb search "how do I rotate keys?" -k 5           find passages, with citations

ingest reads PDF, Word (.docx), HTML, Markdown and plain text (.txt, .rst). Each file is
uploaded to the API, which detects its format from its content, reads it in a sandboxed
process and keeps its structure: a passage found later cites its page (PDF) or its headings
(DOCX, HTML, Markdown). Folders are walked for files with those suffixes. A file the API
refuses (encrypted or scanned PDF, damaged file, over the size limit) is reported by name with
the reason, and the other files are still stored.

The user is whoever the access token belongs to: --token, or KB_ACCESS_TOKEN. On the local stack,
--as EMAIL signs in as that user (created if new).
"""

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import httpx

SUFFIXES = {".md", ".markdown", ".txt", ".rst", ".pdf", ".docx", ".html", ".htm"}


class ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()

    def update(self, done: int, note: str = "") -> None:
        fraction = min(done / self.total, 1.0)
        if self.tty:
            filled = int(fraction * 30)
            bar = "#" * filled + "-" * (30 - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note[:40]:<40}")
            self.stream.flush()
        else:
            self.stream.write(f"{self.label}: {done}/{self.total} {note}\n")

    def close(self) -> None:
        if self.tty:
            elapsed = time.monotonic() - self.started
            self.stream.write(f"  ({elapsed:.1f}s)\n")


def find_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
        elif path.is_file():
            yield path
        else:
            raise SystemExit(f"kb: {path}: no such file or folder")


def _fail(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        where = f" ({error['field']})" if error.get("field") else ""
        return f"{response.status_code} {error['code']}{where}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.text[:200]}"


def ingest(client: httpx.Client, args: argparse.Namespace) -> int:
    files = list(find_files([Path(p) for p in args.paths]))
    if not files:
        print("kb: no PDF, DOCX, HTML, Markdown or text files found", file=sys.stderr)
        return 1
    metadata = json.loads(args.metadata) if args.metadata else {}
    bar = ProgressBar(len(files), "ingest")
    failures = 0
    for done, path in enumerate(files, start=1):
        # The API reads the file (format, title, structure); the CLI only sends it.
        form: dict[str, str] = {
            "source": str(path),
            "metadata": json.dumps({**metadata, "path": str(path)}),
        }
        if args.category:
            form["category"] = args.category
        if args.workspace:
            form["workspace_id"] = args.workspace
        with path.open("rb") as handle:
            response = client.post(
                "/v1/documents/upload", files={"file": (path.name, handle)}, data=form
            )
        if response.status_code == 202:
            response = wait_for_job(client, response.json()["status_url"])
        if response.status_code >= 400:
            failures += 1
            bar.stream.write(f"\nkb: {path}: {_fail(response)}\n")
        bar.update(done, path.name)
    bar.close()
    print(f"{len(files) - failures} of {len(files)} files stored", file=sys.stderr)
    return 1 if failures else 0


def wait_for_job(client: httpx.Client, status_url: str) -> httpx.Response:
    """Poll a background ingest until it ends; its last answer stands for the upload's."""
    while True:
        response = client.get(status_url)
        if response.status_code >= 400:
            return response
        job = response.json()
        if job["status"] == "succeeded":
            return response
        if job["status"] == "failed":
            return httpx.Response(
                422, json={"error": {"code": "ingest_failed", "message": job["error"]}}
            )
        time.sleep(0.5)


def search(client: httpx.Client, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"query": args.query, "k": args.k, "mode": args.mode}
    if args.documents:
        body["group_by"] = "document"
    if args.category:
        body["category"] = args.category
    if args.workspace:
        body["workspace_id"] = args.workspace
    response = client.post("/v1/search", json=body)
    if response.status_code >= 400:
        print(f"kb: {_fail(response)}", file=sys.stderr)
        return 1
    results = response.json()["results"]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    if not results:
        print("no results")
    for rank, hit in enumerate(results, start=1):
        where = hit["source"] or hit["document_id"]
        print(f"{rank}. {hit['title']}  [{hit['score']:.3f}]  {where}{cite(hit)}")
        print("   " + " ".join(hit["content"].split())[:300])
    return 0


def cite(hit: dict[str, Any]) -> str:
    """Where the passage is: its page(s) or heading path when the file had them."""
    location = hit.get("location") or {}
    if "page" in location:
        return f", page {location['page']}"
    if "pages" in location:
        return f", pages {location['pages'][0]}-{location['pages'][-1]}"
    if location.get("headings"):
        return ", " + " > ".join(location["headings"])
    return f"#{hit['chunk_index']}"


def resolve_token(args: argparse.Namespace) -> str:
    if args.as_user:
        from local_stack.stack import LocalStack

        stack = LocalStack()
        return stack.access_token(stack.create_user(args.as_user))
    token = args.token or os.environ.get("KB_ACCESS_TOKEN")
    if not token:
        raise SystemExit("kb: no access token: pass --token, set KB_ACCESS_TOKEN, or --as EMAIL")
    return str(token)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kb", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--api-url",
        default=os.environ.get("KB_API_URL", "http://127.0.0.1:54330"),
        help="the API's base URL (env KB_API_URL)",
    )
    parser.add_argument("--token", help="a Supabase access token (env KB_ACCESS_TOKEN)")
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="EMAIL",
        help="local stack only: act as this user (created if new)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = commands.add_parser(
        "ingest",
        help="add files and folders: PDF, DOCX, HTML, Markdown, text",
        description="Upload files (PDF, .docx, HTML, Markdown, .txt/.rst) and folders of them. "
        "The format is detected from the content; passages keep their page (PDF) or heading "
        "path (DOCX, HTML, Markdown) for citations. Refused files are named with the reason.",
    )
    add.add_argument("paths", nargs="+", metavar="PATH")
    add.add_argument("--category")
    add.add_argument("--workspace", metavar="UUID", help="share with this workspace")
    add.add_argument("--metadata", metavar="JSON", help='extra metadata, e.g. {"lang": "en"}')
    find = commands.add_parser("search", help="search what you may read")
    find.add_argument("query")
    find.add_argument("-k", type=int, default=5)
    find.add_argument("--mode", choices=["semantic", "hybrid", "keyword"], default="hybrid")
    find.add_argument(
        "--documents",
        action="store_true",
        help="documents, each once, ranked by their best passage (default: passages)",
    )
    find.add_argument("--category")
    find.add_argument("--workspace", metavar="UUID")
    find.add_argument("--json", action="store_true", help="print results as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    headers = {"Authorization": f"Bearer {resolve_token(args)}"}
    with httpx.Client(base_url=args.api_url, headers=headers, timeout=300) as client:
        try:
            return ingest(client, args) if args.command == "ingest" else search(client, args)
        except httpx.TransportError as error:
            print(f"kb: cannot reach the API at {args.api_url}: {error}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
