"""Read replicas of the embedded Postgres: streaming standbys, each with its own PostgREST.

What hosted Supabase sells as read replicas, from the same binaries as the primary: a replica is a
`pg_basebackup` of the primary that streams its WAL through a replication slot (so a stopped
replica finds the WAL it missed when it returns) and answers read-only queries (hot standby).
Its PostgREST serves GET requests the gateway sends it (local_stack/Caddyfile).
"""

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from local_stack import postgres, postgrest
from local_stack.processes import StackError
from local_stack.secrets import StackSecrets
from local_stack.settings import StackSettings

# Appended to a replica's postgresql.conf (a copy of the primary's, with this after it).
STANDBY_CONFIG = """
# --- read replica {number} of the embedded stack ---
primary_conninfo = '{conninfo}'
primary_slot_name = '{slot}'
hot_standby = on
# Tell the primary which rows running reads still need, so its vacuum does not remove them
# and cancel a search on the replica (a long search would otherwise end in a conflict error).
hot_standby_feedback = on
"""


@dataclass(frozen=True)
class Replica:
    """Replica `number` (1-based) of a stack: where its data lives, which ports it takes."""

    settings: StackSettings
    number: int

    @property
    def name(self) -> str:
        return f"replica-{self.number}"

    @property
    def slot(self) -> str:
        return f"kb_replica_{self.number}"

    @property
    def data(self) -> Path:
        return self.settings.state_dir / "replicas" / self.name

    @property
    def db_port(self) -> int:
        return self.settings.replica_base_port + 3 * (self.number - 1)

    @property
    def rest(self) -> postgrest.Instance:
        return postgrest.Instance(
            name=f"postgrest-{self.name}",
            db_port=self.db_port,
            port=self.db_port + 1,
            admin_port=self.db_port + 2,
            listens=False,
        )

    @property
    def rest_address(self) -> str:
        return f"{self.settings.host}:{self.rest.port}"

    def db_url(self, secrets: StackSecrets) -> str:
        return (
            f"postgresql://postgres:{secrets.postgres_password}@{self.settings.host}:"
            f"{self.db_port}/postgres"
        )

    def admin_db_url(self, secrets: StackSecrets) -> str:
        """The superuser's login on the replica: pausing its replay is the platform's to do."""
        return postgres.admin_url(self.settings, secrets, port=self.db_port)


def existing(settings: StackSettings) -> list[Replica]:
    """The replicas whose data is on disk, by number."""
    folder = settings.state_dir / "replicas"
    numbers = sorted(
        int(path.name.removeprefix("replica-"))
        for path in (folder.iterdir() if folder.exists() else [])
        if path.name.removeprefix("replica-").isdigit()
    )
    return [Replica(settings, number) for number in numbers]


def create(replica: Replica, secrets: StackSecrets) -> None:
    """A base backup of the running primary, set up to follow it through its own slot."""
    settings = replica.settings
    user = postgres.run_as(settings)
    postgres.allow_replication(settings)
    replica.data.parent.mkdir(parents=True, exist_ok=True)
    postgres.chown(replica.data.parent, user)
    shutil.rmtree(replica.data, ignore_errors=True)
    replica.data.mkdir(mode=0o700)
    postgres.chown(replica.data, user)
    _drop_slot(replica, secrets)
    result = subprocess.run(
        [
            postgres.binary("pg_basebackup"),
            "--pgdata",
            str(replica.data),
            "--host",
            settings.host,
            "--port",
            str(settings.db_port),
            "--username",
            "postgres",
            "--no-password",
            "--wal-method=stream",
            "--checkpoint=fast",
            "--create-slot",
            f"--slot={replica.slot}",
        ],
        user=user,
        env={"PGPASSWORD": secrets.postgres_password, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        shutil.rmtree(replica.data, ignore_errors=True)
        raise StackError(f"pg_basebackup for {replica.name} failed:\n{result.stderr}")
    with open(replica.data / "postgresql.conf", "a") as conf:
        conf.write(
            STANDBY_CONFIG.format(
                number=replica.number,
                conninfo=(
                    f"host={settings.host} port={settings.db_port} user=postgres "
                    f"password={secrets.postgres_password} application_name={replica.name}"
                ),
                slot=replica.slot,
            )
        )
    standby = replica.data / "standby.signal"
    standby.touch()
    postgres.chown(standby, user)


def start(replica: Replica, secrets: StackSecrets) -> None:
    """Its Postgres (made first if new), caught up with the primary, then its PostgREST.

    In that order so the gateway's health check only finds the replica once it answers with
    the primary's current data and schema.
    """
    settings = replica.settings
    if not (replica.data / "PG_VERSION").exists():
        create(replica, secrets)
    delay = settings.replica_apply_delay_ms
    postgres.start(
        settings,
        data=replica.data,
        port=replica.db_port,
        name=f"{replica.name}-postgres",
        options=f"-c recovery_min_apply_delay={delay}ms",
    )
    wait_for_replay(replica, secrets)
    if postgrest.daemon(settings, replica.rest).pid() is not None:
        postgrest.reload(settings, replica.rest)
    postgrest.start(settings, secrets, replica.rest)


def stop(replica: Replica) -> None:
    """Its PostgREST first: the gateway then finds the port closed and retries the request
    elsewhere, where a PostgREST without its database would have answered 503."""
    postgrest.stop(replica.settings, replica.rest)
    postgres.stop(replica.settings, replica.data)


def remove(replica: Replica, secrets: StackSecrets) -> None:
    """Stopped, its data deleted and its slot dropped (a slot left behind keeps WAL forever)."""
    stop(replica)
    shutil.rmtree(replica.data, ignore_errors=True)
    _drop_slot(replica, secrets)


def refresh(replica: Replica, secrets: StackSecrets) -> None:
    """After migrations on the primary: wait until the replica has them, then let its PostgREST
    reload (a standby cannot LISTEN for `notify pgrst`)."""
    if postgres.is_running(replica.settings, replica.data):
        wait_for_replay(replica, secrets)
        postgrest.reload(replica.settings, replica.rest)


def wait_for_replay(replica: Replica, secrets: StackSecrets, timeout: float = 120) -> None:
    """Until the replica has replayed everything the primary had written when this was called."""
    settings = replica.settings
    with psycopg.connect(postgres.url(settings, secrets), autocommit=True) as primary:
        row = primary.execute("select pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(replica.db_url(secrets), autocommit=True, connect_timeout=3) as db:
                caught = db.execute(
                    "select coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)", (target,)
                ).fetchone()
            if caught is not None and caught[0]:
                return
        except psycopg.OperationalError:
            pass  # still starting (recovery not yet consistent)
        if time.monotonic() > deadline:
            raise StackError(f"{replica.name} did not replay up to {target} in {timeout:.0f}s")
        time.sleep(0.05)


def lag(settings: StackSettings, secrets: StackSecrets) -> dict[str, dict[str, object]]:
    """Per replica streaming from the primary: its state, bytes not yet replayed, replay lag."""
    with psycopg.connect(postgres.url(settings, secrets), autocommit=True) as primary:
        rows = primary.execute(
            """select application_name, state,
                      pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                      extract(epoch from replay_lag) * 1000
                 from pg_stat_replication"""
        ).fetchall()
    return {
        name: {
            "state": state,
            "replay_lag_bytes": behind,
            "replay_lag_ms": None if ms is None else round(float(ms), 1),
        }
        for name, state, behind, ms in rows
    }


def _drop_slot(replica: Replica, secrets: StackSecrets) -> None:
    with psycopg.connect(postgres.url(replica.settings, secrets), autocommit=True) as primary:
        primary.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
            "where slot_name = %s and not active",
            (replica.slot,),
        )
