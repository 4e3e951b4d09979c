"""POST /v1/documents/upload: each format end to end (upload, stored passages with their
location, search results that cite it, idempotent re-upload, background ingest), and every kind
of bad file refused with a status and code naming it, with nothing left in the database."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer, edge_settings, settled
from tests.files import (
    encrypt_pdf,
    flate_bomb_pdf,
    make_docx,
    make_pdf,
    many_entries_docx,
    xlsx_like,
    zip_bomb_docx,
)
from tests.support import agent_token, make_user

MANUAL = make_pdf(
    [
        ["Installing the relay agent", "Download the relay package and run the installer."],
        ["Rotating signing keys", "Signing keys are rotated every ninety days by the operator."],
        [],  # a figure only: no text on this page
        ["Backups of the ledger run nightly at two in the morning."],
    ],
    title="Relay operations manual",
)
HANDBOOK_HTML = b"""<!doctype html><html><head><title>Team handbook</title>
<script>trackVisitor("secret-tracking-id")</script><style>p{color:red}</style></head>
<body><nav><a href="/">Home</a> | <a href="/jobs">Careers menu</a></nav>
<main><h1>Handbook</h1><p>Welcome to the team.</p>
<h2>Holidays</h2><p>Everyone takes twenty-eight vacation days a year.</p>
<h3>Carry-over</h3><p>Up to five unused vacation days carry over into the next year.</p>
</main><footer>Copyright footer text</footer></body></html>"""
POLICY_DOCX = make_docx(
    [
        ("h1", "Security policy"),
        ("p", "This policy applies to every employee."),
        ("h2", "Passwords"),
        ("p", "Passwords have at least sixteen characters and never expire by time alone."),
        ("h2", "Laptops"),
        ("p", "Laptop disks are encrypted with a recovery key kept by the IT desk."),
    ],
    table=[["Device", "Owner"], ["Laptop", "IT desk"]],
)
GUIDE_MD = b"""# Deploy guide

How we ship.

## Staging

Every merge deploys to staging within ten minutes.

```sh
# not a heading: a shell comment
make deploy
```

## Production

Production deploys need two approvals from the on-call rota.
"""


@dataclass
class Uploader:
    user: User
    token: str


@pytest.fixture(scope="module")
def uploader(stack: LocalStack) -> Iterator[Uploader]:
    user = make_user(stack, "uploader")
    yield Uploader(user, stack.access_token(user))
    stack.delete_user(user)


def upload(
    api: TestClient,
    token: str,
    name: str,
    data: bytes,
    mime: str = "application/octet-stream",
    **form: str,
) -> Any:
    return api.post(
        "/v1/documents/upload",
        headers=bearer(token),
        files={"file": (name, data, mime)},
        data=form,
    )


def stored_chunks(db: psycopg.Connection, document_id: str) -> list[dict[str, Any]]:
    rows = db.execute(
        "select content, metadata, location from public.document_chunks "
        "where document_id = %s order by chunk_index",
        (document_id,),
    ).fetchall()
    return [{"content": c, "metadata": m, "location": loc} for c, m, loc in rows]


def counts(db: psycopg.Connection, user: User) -> tuple[int, int]:
    row = db.execute(
        "select (select count(*) from public.documents where owner_id = %(u)s),"
        " (select count(*) from public.document_chunks where owner_id = %(u)s)",
        {"u": user.id},
    ).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]))


def top_hit(api: TestClient, token: str, query: str, document_id: str) -> dict[str, Any]:
    response = api.post(
        "/v1/search", headers=bearer(token), json={"query": query, "k": 3, "mode": "hybrid"}
    )
    assert response.status_code == 200, response.text
    hits = [h for h in response.json()["results"] if h["document_id"] == document_id]
    assert hits, response.json()
    hit: dict[str, Any] = hits[0]
    return hit


def test_a_pdf_becomes_passages_that_cite_their_pages(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    response = upload(
        api, uploader.token, "manual.txt", MANUAL, "text/plain", metadata='{"lang": "en"}'
    )  # the name lies: the bytes are a PDF, and are read as one
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    document = db.execute(
        "select title, source, metadata from public.documents where id = %s", (document_id,)
    ).fetchone()
    assert document is not None
    assert document[0] == "Relay operations manual"  # the PDF's own title
    assert document[1] == "manual.txt"
    assert document[2]["lang"] == "en" and document[2]["file"]["format"] == "pdf"
    chunks = stored_chunks(db, document_id)
    assert chunks
    text = " ".join(c["content"] for c in chunks)
    assert "Signing keys are rotated every ninety days" in text and "ledger" in text
    for chunk in chunks:  # the location is in metadata, over the document's own keys
        assert chunk["metadata"]["lang"] == "en"
        assert ("page" in chunk["location"]) != ("pages" in chunk["location"])
        assert {k: chunk["metadata"][k] for k in chunk["location"]} == chunk["location"]
    assert [c["location"] for c in chunks] == [{"pages": [1, 4]}]  # small: one passage

    hit = top_hit(api, uploader.token, "how often are signing keys rotated", document_id)
    assert hit["location"] == {"pages": [1, 4]}
    assert hit["metadata"]["file"]["name"] == "manual.txt"

    again = upload(api, uploader.token, "manual.pdf", MANUAL)
    assert again.status_code == 200, again.text
    assert again.json()["document_id"] == document_id


def test_a_long_pdf_gives_each_passage_its_own_pages(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    pages = [
        [f"Chapter {n} covers topic {n}."]
        + [f"Line {i} of page {n} about topic {n}." for i in range(60)]
        for n in range(1, 5)
    ]
    response = upload(api, uploader.token, "long.pdf", make_pdf(pages), "application/pdf")
    assert response.status_code in (201, 202), response.text
    document_id = _finished(api, uploader.token, response)
    locations = [c["location"] for c in stored_chunks(db, document_id)]
    assert len(locations) > 4
    assert all("page" in loc or "pages" in loc for loc in locations)
    firsts = [loc.get("page") or loc["pages"][0] for loc in locations]
    assert firsts == sorted(firsts) and firsts[0] == 1 and max(firsts) == 4
    single = [c for c in stored_chunks(db, document_id) if c["location"] == {"page": 3}]
    assert single and all("page 3" in c["content"] for c in single)


def test_html_keeps_its_main_content_under_its_headings(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    response = upload(api, uploader.token, "handbook.html", HANDBOOK_HTML, "text/html")
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    chunks = stored_chunks(db, document_id)
    text = " ".join(c["content"] for c in chunks)
    assert "twenty-eight vacation days" in text
    for chrome in ("secret-tracking-id", "color:red", "Careers menu", "Copyright footer"):
        assert chrome not in text
    assert [c["location"].get("headings") for c in chunks] == [
        ["Handbook"],
        ["Handbook", "Holidays"],
        ["Handbook", "Holidays", "Carry-over"],
    ]
    hit = top_hit(api, uploader.token, "how many unused vacation days carry over", document_id)
    assert hit["location"] == {"headings": ["Handbook", "Holidays", "Carry-over"]}
    assert hit["content"].startswith("Handbook > Holidays > Carry-over")


def test_docx_keeps_its_headings_and_tables(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    response = upload(api, uploader.token, "policy.docx", POLICY_DOCX, category="policies")
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    chunks = stored_chunks(db, document_id)
    assert [c["location"]["headings"] for c in chunks] == [
        ["Security policy"],
        ["Security policy", "Passwords"],
        ["Security policy", "Laptops"],
    ]
    assert "Laptop | IT desk" in chunks[-1]["content"]
    hit = top_hit(api, uploader.token, "how long must passwords be", document_id)
    assert hit["location"] == {"headings": ["Security policy", "Passwords"]}
    assert hit["category"] == "policies" and hit["title"] == "Security policy"


def test_markdown_is_cut_at_its_headings(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    response = upload(api, uploader.token, "deploy.md", GUIDE_MD, "text/markdown")
    assert response.status_code == 201, response.text
    document_id = response.json()["document_id"]
    chunks = stored_chunks(db, document_id)
    assert [c["location"]["headings"] for c in chunks] == [
        ["Deploy guide"],
        ["Deploy guide", "Staging"],
        ["Deploy guide", "Production"],
    ]
    assert "# not a heading" in chunks[1]["content"]  # code stays code
    hit = top_hit(api, uploader.token, "how many approvals does production need", document_id)
    assert hit["location"] == {"headings": ["Deploy guide", "Production"]}


def test_a_large_file_answers_at_once_and_keeps_its_locations(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    sections = "\n\n".join(
        f"## Part {n}\n\n" + " ".join(f"Fact {n}.{i} is worth recording." for i in range(40))
        for n in range(1, 6)
    )
    response = upload(api, uploader.token, "big.md", f"# Big guide\n\n{sections}\n".encode())
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith("/status")
    document_id = _finished(api, uploader.token, response)
    headings = {tuple(c["location"]["headings"]) for c in stored_chunks(db, document_id)}
    assert headings == {("Big guide", f"Part {n}") for n in range(1, 6)}
    # The document keeps the file's layout: a new model, or a reader, can cut it again.
    document = api.get(f"/v1/documents/{document_id}", headers=bearer(uploader.token)).json()
    assert [s.get("headings") for s in document["sections"]] == [
        ["Big guide", f"Part {n}"] for n in range(1, 6)
    ]
    assert [p["location"] for p in document["passages"]] == [
        c["location"] for c in stored_chunks(db, document_id)
    ]


def test_a_new_version_of_a_file_replaces_the_text_in_place(
    api: TestClient, uploader: Uploader, db: psycopg.Connection
) -> None:
    first = upload(api, uploader.token, "faq.md", b"# FAQ\n\n## Hours\n\nOpen at nine.\n")
    assert first.status_code == 201, first.text
    document_id = first.json()["document_id"]
    replaced = api.put(
        f"/v1/documents/{document_id}/file",
        headers=bearer(uploader.token),
        files={"file": ("faq.md", b"# FAQ\n\n## Hours\n\nOpen at ten.\n\n## Parking\n\nBehind.\n")},
        data={"metadata": '{"edition": 2}'},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["embedding_status"] == "ready"
    document = api.get(f"/v1/documents/{document_id}", headers=bearer(uploader.token)).json()
    assert "Open at ten." in document["content"] and document["title"] == "FAQ"
    assert document["metadata"]["edition"] == 2
    assert document["metadata"]["file"]["bytes"] == len(
        b"# FAQ\n\n## Hours\n\nOpen at ten.\n\n## Parking\n\nBehind.\n"
    )
    assert [c["location"]["headings"] for c in stored_chunks(db, document_id)] == [
        ["FAQ", "Hours"],
        ["FAQ", "Parking"],
    ]
    missing = api.put(
        "/v1/documents/00000000-0000-4000-8000-000000000000/file",
        headers=bearer(uploader.token),
        files={"file": ("faq.md", b"# FAQ\n\nText.\n")},
    )
    assert missing.status_code == 404, missing.text


def _finished(api: TestClient, token: str, response: Any) -> str:
    document_id = str(response.json()["document_id"])
    if response.status_code == 202:
        status = settled(api, token, document_id)
        assert status["embedding_status"] == "ready", status
    return document_id


BOMB_PDF = flate_bomb_pdf(200)
BAD_FILES: list[tuple[str, str, bytes, int, str]] = [
    ("encrypted", "secret.pdf", encrypt_pdf(MANUAL, "hunter2"), 422, "encrypted_pdf"),
    ("corrupt pdf", "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Cat", 422, "corrupt_pdf"),
    ("truncated pdf", "cut.pdf", MANUAL[: len(MANUAL) // 3], 422, "corrupt_pdf"),
    ("scan", "scan.pdf", make_pdf([[], []]), 422, "no_text_layer"),
    ("zip bomb", "bomb.docx", zip_bomb_docx(), 413, "zip_bomb"),
    ("zip of many parts", "parts.docx", many_entries_docx(), 413, "zip_bomb"),
    ("damaged docx", "damaged.docx", POLICY_DOCX[:2000], 422, "corrupt_file"),
    ("png", "diagram.md", b"\x89PNG\r\n\x1a\n" + bytes(200), 415, "unsupported_type"),
    ("binary", "data.bin", bytes(range(256)) * 8, 415, "unsupported_type"),
    ("excel", "sheet.xlsx", xlsx_like(), 415, "unsupported_type"),
    ("zip", "notes.zip", many_entries_docx(1).replace(b"word/", b"misc/"), 415, "unsupported_type"),
    ("empty", "empty.txt", b"", 422, "empty_file"),
    ("blank", "blank.md", b"  \n\n \t\n", 422, "no_text"),
    (
        "html without text",
        "blank.html",
        b"<html><body><nav>menu</nav></body></html>",
        422,
        "no_text",
    ),
]


@pytest.mark.parametrize(
    ("name", "data", "status", "code"), [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_a_bad_file_is_refused_by_name_and_leaves_nothing(
    api: TestClient,
    uploader: Uploader,
    db: psycopg.Connection,
    name: str,
    data: bytes,
    status: int,
    code: str,
) -> None:
    before = counts(db, uploader.user)
    response = upload(api, uploader.token, name, data)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["field"] == "file"
    assert counts(db, uploader.user) == before


@pytest.fixture(scope="module")
def strict_api(stack: LocalStack) -> Iterator[TestClient]:
    """Tight limits, to show each one is enforced and named."""
    settings = edge_settings(
        stack, max_upload_bytes=len(BOMB_PDF) + 1, extraction_memory_mb=160, max_document_chars=1000
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_limits_are_enforced_and_named(
    strict_api: TestClient, uploader: Uploader, db: psycopg.Connection, stack: LocalStack
) -> None:
    before = counts(db, uploader.user)
    big = upload(strict_api, uploader.token, "big.txt", b"word " * (len(BOMB_PDF) // 5 + 2))
    assert big.status_code == 413, big.text
    assert big.json()["error"]["code"] == "payload_too_large"
    assert "MAX_UPLOAD_BYTES" in big.json()["error"]["message"]

    # A body far over the limit is refused from its Content-Length, before it is read.
    huge = upload(strict_api, uploader.token, "huge.txt", b"w" * (len(BOMB_PDF) + 70_000))
    assert huge.status_code == 413, huge.text
    assert "request body is larger" in huge.json()["error"]["message"]

    # A body of unknown length (chunked) is refused before the form parser spools it.
    def chunks() -> Iterator[bytes]:
        yield b"--x\r\nContent-Disposition: form-data; name=file; filename=a.txt\r\n\r\n"
        yield b"w" * 10_000

    unsized = strict_api.post(
        "/v1/documents/upload",
        headers={**bearer(uploader.token), "Content-Type": "multipart/form-data; boundary=x"},
        content=chunks(),
    )
    assert unsized.status_code == 411, unsized.text
    assert unsized.json()["error"]["code"] == "length_required"

    long_text = upload(strict_api, uploader.token, "long.md", b"# T\n\n" + b"w " * 1500)
    assert long_text.status_code == 413, long_text.text
    assert "limit is 1000" in long_text.json()["error"]["message"]

    # A PDF whose ~200 KB content stream inflates to 200 MB: under a 160 MB address space the
    # child runs out of memory, and the answer names the limit; the API's memory is untouched.
    starved = upload(strict_api, uploader.token, "bomb.pdf", BOMB_PDF)
    assert starved.status_code == 413, starved.text
    assert starved.json()["error"]["code"] == "extraction_limit"
    assert "memory" in starved.json()["error"]["message"]
    assert counts(db, uploader.user) == before


def test_a_parse_past_its_deadline_is_killed_and_refused(
    stack: LocalStack, uploader: Uploader, db: psycopg.Connection
) -> None:
    settings = edge_settings(stack, extraction_timeout_seconds=0.001)
    before = counts(db, uploader.user)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = upload(client, uploader.token, "manual.pdf", MANUAL)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "extraction_timeout"
        # The API is still serving after the kill.
        assert client.get("/health/live").status_code == 200
    assert counts(db, uploader.user) == before


def test_uploads_go_through_the_token_check_and_rls(
    api: TestClient, stack: LocalStack, uploader: Uploader, db: psycopg.Connection
) -> None:
    no_token = api.post("/v1/documents/upload", files={"file": ("a.md", GUIDE_MD)})
    assert no_token.status_code == 401

    owner, viewer = make_user(stack, "upload-owner"), make_user(stack, "upload-viewer")
    try:
        row = db.execute(
            "insert into public.workspaces (name, created_by) values ('uploads', %s) returning id",
            (owner.id,),
        ).fetchone()
        assert row is not None
        db.execute(
            "insert into public.workspace_members (workspace_id, user_id, role) "
            "values (%s, %s, 'viewer')",
            (row[0], viewer.id),
        )
        refused = upload(
            api, stack.access_token(viewer), "a.docx", POLICY_DOCX, workspace_id=str(row[0])
        )
        assert refused.status_code == 403, refused.text
        assert counts(db, viewer) == (0, 0)
        # Someone outside the workspace: refused the same way, nothing stored.
        before = counts(db, uploader.user)
        stranger = upload(api, uploader.token, "b.md", GUIDE_MD, workspace_id=str(row[0]))
        assert stranger.status_code == 403, stranger.text
        assert counts(db, uploader.user) == before
        agent = agent_token(stack, viewer, "read")
        assert upload(api, agent, "a.md", GUIDE_MD).status_code == 403
        assert counts(db, viewer) == (0, 0)

        bad_meta = upload(api, stack.access_token(owner), "a.md", GUIDE_MD, metadata="[1]")
        assert bad_meta.status_code == 422 and bad_meta.json()["error"]["field"] == "metadata"
    finally:
        db.execute(
            "delete from public.workspaces where name = 'uploads' and created_by = %s", (owner.id,)
        )
        stack.delete_user(owner)
        stack.delete_user(viewer)
