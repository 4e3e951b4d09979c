"""The product's own processes, run from this checkout against the stack: kb-embedder (the one
copy of the local model), the API, the MCP server and the embedding worker.

Each is a Daemon with the edge's settings for this stack in its environment (the names of
knowledge_core.settings.Settings), so what runs here is configured as a deployment would be.
"""

import os
import sys

from knowledge_core.embeddings.wire import answers as embedder_answers
from local_stack.database import Database
from local_stack.processes import (
    Daemon,
    StackError,
    http_ok,
    log,
    port_is_open,
    restart_if_reconfigured,
    wait_until,
)
from local_stack.settings import REPO_ROOT


class Services:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.settings = database.settings

    @property
    def embedder_url(self) -> str:
        return f"unix://{self.settings.run_dir / 'embedder.sock'}"

    def edge_environment(self) -> dict[str, str]:
        """The edge's settings for this stack (knowledge_core.settings.Settings names)."""
        return {
            "SUPABASE_URL": self.settings.api_url,
            "SUPABASE_ANON_KEY": self.database.secrets.anon_key,
            "SUPABASE_JWT_SECRET": self.database.secrets.jwt_secret,
            "EMBEDDER_URL": self.embedder_url,
            # With replicas, searches go as GET so the gateway can send them there.
            "SEARCH_VIA_GET": "true" if self.database.replica_count() else "false",
        }

    # -- the processes ------------------------------------------------------------------------
    def embedder(self) -> Daemon:
        """kb-embedder: the one copy of the local model, for the API and the MCP server."""
        s = self.settings
        return Daemon(
            name="embedder",
            argv=[sys.executable, "-m", "knowledge_core.embeddings.service"],
            pid_file=s.run_dir / "embedder.pid",
            log_file=s.log_dir / "embedder.log",
            env={
                "EMBEDDER_URL": self.embedder_url,
                "MODEL_CACHE_DIR": str(s.state_dir / "models"),
                "PYTHONPATH": str(REPO_ROOT),
            },
        )

    def api(self) -> Daemon:
        s = self.settings
        return Daemon(
            name="api",
            argv=[sys.executable, "-m", "api", "--host", s.host, "--port", str(s.edge_api_port)],
            pid_file=s.run_dir / "api.pid",
            log_file=s.log_dir / "api.log",
            env={**self.edge_environment(), "PYTHONPATH": str(REPO_ROOT)},
        )

    def mcp(self) -> Daemon:
        s = self.settings
        return Daemon(
            name="mcp",
            argv=[
                sys.executable,
                "-m",
                "knowledge_mcp",
                "--transport",
                "http",
                "--host",
                s.host,
                "--port",
                str(s.edge_mcp_port),
            ],
            pid_file=s.run_dir / "mcp.pid",
            log_file=s.log_dir / "mcp.log",
            # mcp/ holds the import package knowledge_mcp; mcp/ itself is no package, so it
            # cannot shadow the MCP SDK.
            env={
                **self.edge_environment(),
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "mcp")]),
            },
        )

    def worker(self, name: str = "worker", *, embedder_url: str | None = None) -> Daemon:
        """kb-worker, the embedding worker, with this stack's settings and its own login.

        `name` gives tests a second worker (its own pid and log files) beside the stack's;
        `embedder_url` another stack's model, for a stack started without an edge (which runs
        no embedder of its own)."""
        s = self.settings
        return Daemon(
            name=name,
            argv=[sys.executable, "-m", "knowledge_worker", "--name", name],
            pid_file=s.run_dir / f"{name}.pid",
            log_file=s.log_dir / f"{name}.log",
            env={
                **self.edge_environment(),
                **({"EMBEDDER_URL": embedder_url} if embedder_url else {}),
                "KB_WORKER_DATABASE_URL": self.database.worker_url,
                "PYTHONPATH": str(REPO_ROOT),
            },
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """The model first (the API and the MCP server wait for it), then the doors, then the
        worker; a door started with other settings is restarted."""
        log("embedder: starting (loads the local model, shared by API and MCP)")
        embedder = self.embedder()
        embedder.start()
        wait_until(
            lambda: embedder_answers(self.embedder_url),
            timeout=120,
            what="embedder",
            log=embedder.log_file,
        )
        log("api: starting")
        self._start_door(self.api(), self.settings.edge_api_port, "API", "EDGE_API_PORT")
        log("mcp: starting")
        self._start_door(self.mcp(), self.settings.edge_mcp_port, "MCP server", "EDGE_MCP_PORT")
        log("worker: starting (embeds documents written by any door)")
        self.worker().start()

    def _start_door(self, door: Daemon, port: int, what: str, setting: str) -> None:
        restart_if_reconfigured(door)
        host = self.settings.host
        if door.pid() is None and port_is_open(host, port):
            raise StackError(
                f"port {port} is taken by another program; set KB_STACK_{setting} to a free port"
            )
        door.start()
        ready = f"http://{host}:{port}/health/ready"
        wait_until(lambda: http_ok(ready), timeout=120, what=what, log=door.log_file)

    def stop(self) -> None:
        for daemon in (self.worker(), self.mcp(), self.api(), self.embedder()):
            daemon.stop()

    def running(self) -> dict[str, bool]:
        return {
            "embedder": self.embedder().pid() is not None and embedder_answers(self.embedder_url),
            "api": self.api().pid() is not None
            and http_ok(f"{self.settings.edge_api_url}/health/live"),
            "mcp": self.mcp().pid() is not None
            and http_ok(f"{self.settings.edge_mcp_url}/health/live"),
            "worker": self.worker().pid() is not None,
        }

    def pids(self) -> dict[str, int | None]:
        return {
            "embedder": self.embedder().pid(),
            "api": self.api().pid(),
            "mcp": self.mcp().pid(),
            "worker": self.worker().pid(),
        }
