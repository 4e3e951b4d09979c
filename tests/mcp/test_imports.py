"""The import trap: run from the repository root, `mcp` must still be the SDK.

The folder mcp/ at the root holds the MCP server; with an __init__.py it would be a package named
`mcp` that shadows the SDK for anything started from the root (the current directory comes first
on sys.path). It has none, and the importable package is `knowledge_mcp`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local_stack.settings import REPO_ROOT

PROBE = (
    "import json, mcp, mcp.server.mcpserver, knowledge_mcp; "
    "print(json.dumps([mcp.__file__, knowledge_mcp.__file__]))"
)


def test_the_mcp_folder_is_not_a_package() -> None:
    assert (REPO_ROOT / "mcp" / "knowledge_mcp" / "__init__.py").is_file()
    assert not (REPO_ROOT / "mcp" / "__init__.py").exists()


@pytest.mark.parametrize("pythonpath", [None, str(REPO_ROOT)], ids=["installed", "PYTHONPATH=root"])
def test_from_the_repo_root_mcp_is_the_sdk_and_knowledge_mcp_imports(
    pythonpath: str | None,
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    sdk, ours = map(Path, json.loads(result.stdout))
    assert sdk.parent.parent.name == "site-packages", sdk
    assert sdk == sdk.parent / "__init__.py" and sdk.parent.name == "mcp"
    assert ours == REPO_ROOT / "mcp" / "knowledge_mcp" / "__init__.py"


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "knowledge_mcp"], [str(Path(sys.executable).parent / "kb-mcp")]],
    ids=["python -m knowledge_mcp", "kb-mcp"],
)
def test_help_names_both_transports(command: list[str]) -> None:
    result = subprocess.run(
        [*command, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kb-mcp")
    for words in (
        "--transport {http,stdio}",
        "--host",
        "--port",
        "KB_ACCESS_TOKEN",
        "consent page",
    ):
        assert words in result.stdout
