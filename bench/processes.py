"""Edge processes of our own (API, MCP) on free ports, stopped by their handle when done.

Sections that need a particular configuration (batch size, no local model) start their own
process instead of reconfiguring the stack's, which other people are using.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from local_stack.settings import REPO_ROOT

READY_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class EdgeProcess:
    url: str
    pid: int
    process: "subprocess.Popen[bytes]"


@contextmanager
def edge_process(
    module_args: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    ready_path: str,
    log_file: Path,
) -> Iterator[EdgeProcess]:
    """`python -m <module_args>` with `env` on top of ours; yields once `ready_path` answers 200."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    child_env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "mcp")]),
    }
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not http_ok(url + ready_path):
            if process.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(module_args)} exited with {process.returncode}; see {log_file}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(module_args)} not ready in time; see {log_file}")
            time.sleep(0.2)
        yield EdgeProcess(url, process.pid, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def api_process(
    base_env: Mapping[str, str], extra: Mapping[str, str], log_file: Path
) -> AbstractContextManager[EdgeProcess]:
    """The project's API (`python -m api`), configured by `extra` on top of the stack's settings."""
    port = free_port()
    return edge_process(
        ["api", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        env={**base_env, "LOG_LEVEL": "WARNING", **extra},
        ready_path="/health/ready",
        log_file=log_file,
    )
