"""The `kb` CLI ingests a folder as a user; the API (the stack's own daemon) then finds it."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack


def test_cli_ingests_a_folder_and_the_api_finds_it(stack: LocalStack, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex[:8]
    (tmp_path / "guides").mkdir()
    (tmp_path / "guides" / "keys.md").write_text(
        f"# Rotating keys {marker}\n\nCreate a standby signing key, then promote it.\n"
    )
    (tmp_path / "backups.txt").write_text(
        f"Backups {marker} run nightly at 02:00 UTC and are kept for seven days."
    )
    (tmp_path / "image.png").write_bytes(b"\x89PNG not text")  # skipped: not Markdown or text
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
