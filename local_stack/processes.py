"""Background processes with pid files: start once, find again, stop cleanly.

A pid file alone can lie after a crash (the pid may be reused), so a process counts as ours only
if it is alive and its command line still names the expected program.
"""

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class StackError(RuntimeError):
    """A stack operation failed for a reason the user can act on; the message says which."""


def port_is_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = ""
    if log is not None and log.exists():
        tail = (
            "\n--- last lines of "
            + str(log)
            + " ---\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        )
    raise StackError(f"{what} did not become ready within {timeout:.0f}s{tail}")


@dataclass
class Daemon:
    """A long-running child process detached from the terminal that started it."""

    name: str
    argv: Sequence[str]
    pid_file: Path
    log_file: Path
    env: Mapping[str, str] = field(default_factory=dict)

    def pid(self) -> int | None:
        """The pid of our running process, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            executable = os.readlink(f"/proc/{pid}/exe")
        except (FileNotFoundError, PermissionError):
            cmdline, executable = [], ""
        # Same program: started by the same path (a reinstall may since have replaced the file,
        # which /proc then shows under another name, "(deleted)"), or the same file reached
        # through another symlink (python vs python3).
        same_program = cmdline[:1] == [self.argv[0].encode()] or executable == os.path.realpath(
            self.argv[0]
        )
        if same_program and cmdline[1 : len(self.argv)] == [a.encode() for a in self.argv[1:]]:
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self) -> int:
        running = self.pid()
        if running is not None:
            return running
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the process; True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not; another user's process does)."""
    # Reap it if it is our child (a zombie would otherwise look alive).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat")
    try:
        return state.read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
