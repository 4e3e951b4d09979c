"""The `kb` CLI ingests a folder as a user; the API (the stack's own daemon) then finds it."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack
from tests.files import encrypt_pdf, make_docx, make_pdf


def test_cli_ingests_a_folder_and_the_api_finds_it(stack: LocalStack, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex[:8]
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "keys.md").write_text(
        f"# Rotating keys {marker}\n\nCreate a standby signing key, then promote it.\n"
    )
    (tmp_path / "backups.txt").write_text(
        f"Backups {marker} run nightly at 02:00 UTC and are kept for seven days."
    )
    (tmp_path / "image.png").write_bytes(b"\x89PNG not text")  # skipped: not a format we read
    email = f"cli-{marker}@test.local"
    env = {**os.environ, "KB_API_URL": stack.settings.edge_api_url}

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "api.cli",
            "--as",
            email,
            "ingest",
            str(tmp_path),
            "--category",
            "ops",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "2 of 2 files stored" in result.stderr

    user = stack.create_user(email)
    try:
        token = stack.access_token(user)
        response = httpx.post(
            f"{stack.settings.edge_api_url}/v1/search",
            headers={"Authorization": f"Bearer {token}"},
            json={"query": "when do backups run", "k": 2, "category": "ops"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        top = response.json()["results"][0]
        assert top["title"] == "backups"
        assert top["metadata"]["path"].endswith("backups.txt")

        found = subprocess.run(
            [sys.executable, "-m", "api.cli", "--as", email, "search", "signing key", "-k", "1"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert found.returncode == 0, found.stderr
        assert f"Rotating keys {marker}" in found.stdout
    finally:
        stack.delete_user(user)


def test_cli_explains_a_missing_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KB_ACCESS_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "search", "anything"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "no access token" in result.stderr


def test_cli_ingests_every_format_and_names_the_files_it_refuses(
    stack: LocalStack, tmp_path: Path
) -> None:
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
    email = f"cli-files-{marker}@test.local"
    env = {**os.environ, "KB_API_URL": stack.settings.edge_api_url}

    def kb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "api.cli", "--as", email, *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    result = kb("ingest", str(tmp_path))
    assert result.returncode == 1, result.stderr  # one file refused
    assert "4 of 5 files stored" in result.stderr
    assert "locked.pdf: 422 encrypted_pdf" in result.stderr
    try:
        found = kb("search", f"{marker} turbine service interval", "-k", "1")
        assert found.returncode == 0, found.stderr
        assert "manual.pdf, pages 1-2" in found.stdout  # a short PDF: one passage
        found = kb("search", f"who signs the {marker} log", "-k", "1", "--json")
        assert found.returncode == 0, found.stderr
        top = json.loads(found.stdout)[0]
        assert top["location"] == {"headings": ["Policy", "Visitors"]}
        assert top["title"] == "Policy"
        assert top["metadata"]["path"].endswith("policy.docx")
        # The marker is a word of all four files: keyword mode, each document once.
        found = kb("search", marker, "--mode", "keyword", "--documents", "-k", "10", "--json")
        assert found.returncode == 0, found.stderr
        hits = json.loads(found.stdout)
        assert len({h["document_id"] for h in hits}) == len(hits) == 4
    finally:
        stack.delete_user(stack.create_user(email))


def test_cli_help_names_the_formats() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "ingest", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for word in ("PDF", ".docx", "HTML", "Markdown", "page"):
        assert word in result.stdout
