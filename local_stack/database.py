"""The database part of the stack: Postgres with Supabase's platform objects, the migrations and
the seed, PostgREST in front of it, and the read replicas that copy it.

Every change of schema goes through the pinned Supabase CLI (`supabase migration up`), as on a
hosted project; this part only lays what `supabase start` would have laid first (platform.sql).
"""

import os
import shutil
import subprocess
from pathlib import Path

import psycopg
import psycopg.sql

from local_stack import postgres, postgrest, replicas
from local_stack.processes import StackError, log
from local_stack.secrets import StackSecrets
from local_stack.settings import REPO_ROOT, StackSettings

PLATFORM_SQL = Path(__file__).with_name("platform.sql")
SUPABASE_CLI = REPO_ROOT / "node_modules" / ".bin" / "supabase"
MAX_REPLICAS = 8

# The migrations squashed into the baseline, which restates their final state object for object:
# a database whose history ends with the last of them holds exactly what the baseline and the
# rows after it make (Database.adopt_squashed_history).
LAST_SQUASHED_VERSION = "20261203001000"
BASELINE_VERSIONS = ("20261206000100", "20261206000200")


class Database:
    def __init__(self, settings: StackSettings, secrets: StackSecrets) -> None:
        self.settings = settings
        self.secrets = secrets

    @property
    def url(self) -> str:
        """The `postgres` role's URL (DB_URL): the project's own role, not a superuser."""
        return postgres.url(self.settings, self.secrets)

    @property
    def worker_url(self) -> str:
        """The embedding worker's login: role kb_embedding_worker, no table privileges at all."""
        s = self.settings
        return (
            f"postgresql://kb_embedding_worker:{self.secrets.worker_password}"
            f"@{s.host}:{s.db_port}/postgres"
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, issuer: str, replica_count: int) -> None:
        """Postgres (made on first start, then migrated and seeded), PostgREST, and
        `replica_count` replicas (those past it are removed with their data)."""
        if not 0 <= replica_count <= MAX_REPLICAS:
            # Each replica takes a WAL sender and a slot; Postgres allows 10 of each by default.
            raise StackError(
                f"--replicas must be between 0 and {MAX_REPLICAS}, not {replica_count}"
            )
        log("postgres: starting")
        fresh = postgres.initialize(self.settings, self.secrets)
        postgres.start(self.settings)
        if not postgres.made_for_supabase_admin(self.settings, self.secrets):
            raise StackError(
                f"the Postgres in {self.settings.pgdata} was made when `postgres` was its "
                "superuser; the stack now has hosted Supabase's roles (supabase_admin is the "
                "superuser, postgres is not one), and a cluster's first superuser cannot be "
                "demoted. Run `kb-stack reset` to make it again (its data is lost)."
            )
        self.lay_platform()
        self.migrate(issuer)
        if fresh:
            self.seed()
        log("postgrest: starting")
        postgrest.start(self.settings, self.secrets)
        self._keep_replicas(replica_count)

    def recreate(self, issuer: str) -> None:
        """The database made again from the migrations and the seed; other data is gone.

        A cluster made before the stack had hosted's roles (postgres its superuser) is made
        again, replicas included."""
        postgres.initialize(self.settings, self.secrets)
        postgres.start(self.settings)
        postgrest.stop(self.settings)
        if not postgres.made_for_supabase_admin(self.settings, self.secrets):
            log("postgres: made again, with supabase_admin as its superuser")
            for replica in replicas.existing(self.settings):
                replicas.remove(replica, self.secrets)
            postgres.stop(self.settings)
            shutil.rmtree(self.settings.pgdata)
            postgres.initialize(self.settings, self.secrets)
            postgres.start(self.settings)
        log("database: recreating")
        postgres.psql(
            self.settings,
            self.secrets,
            "-c",
            "drop database if exists postgres with (force)",
            "-c",
            "create database postgres",
            database="template1",
            admin=True,
        )
        self.lay_platform()
        self.migrate(issuer)
        self.seed()
        postgrest.start(self.settings, self.secrets)
        for replica in self.replicas():
            replicas.refresh(replica, self.secrets)

    def stop(self) -> None:
        for replica in replicas.existing(self.settings):
            replicas.stop(replica)
        postgrest.stop(self.settings)
        postgres.stop(self.settings)

    def running(self) -> dict[str, bool]:
        return {
            "postgres": postgres.is_running(self.settings),
            "postgrest": postgrest.is_ready(self.settings),
        }

    # -- read replicas ------------------------------------------------------------------------
    def replicas(self) -> list[replicas.Replica]:
        """The read replicas this stack keeps (kb-stack start --replicas N), by number."""
        return [replicas.Replica(self.settings, n) for n in range(1, self.replica_count() + 1)]

    def replica_count(self) -> int:
        """How many replicas the last `start --replicas N` asked for (0 if never)."""
        try:
            return int(self._replica_count_file.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    @property
    def _replica_count_file(self) -> Path:
        return self.settings.state_dir / "replica-count"

    def replica_status(self) -> list[dict[str, object]]:
        """Each replica: its ports, whether its Postgres and PostgREST run, its replay lag."""
        streaming = (
            replicas.lag(self.settings, self.secrets) if postgres.is_running(self.settings) else {}
        )
        return [
            {
                "name": replica.name,
                "db_port": replica.db_port,
                "rest_port": replica.rest.port,
                "postgres": postgres.is_running(self.settings, replica.data),
                "postgrest": postgrest.is_ready(self.settings, replica.rest),
                **streaming.get(replica.name, {"state": "not streaming"}),
            }
            for replica in self.replicas()
        ]

    def stop_replica(self, number: int) -> None:
        """Stop one replica (its PostgREST, then its Postgres); the gateway reads elsewhere."""
        replicas.stop(replicas.Replica(self.settings, number))

    def start_replica(self, number: int) -> None:
        """Start a stopped replica again; it catches up before the gateway sends it reads."""
        replicas.start(replicas.Replica(self.settings, number), self.secrets)

    def _keep_replicas(self, count: int) -> None:
        for replica in replicas.existing(self.settings):
            if replica.number > count:
                log(f"{replica.name}: removing (the stack keeps {count} replicas)")
                replicas.remove(replica, self.secrets)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._replica_count_file.write_text(str(count))
        for replica in self.replicas():
            log(
                f"{replica.name}: starting (Postgres on {replica.db_port}, "
                f"PostgREST on {replica.rest.port})"
            )
            replicas.start(replica, self.secrets)

    # -- schema -------------------------------------------------------------------------------
    def supabase_cli(
        self,
        *args: str,
        check: bool = True,
        db_url: str | None = None,
        remote: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned Supabase CLI against this stack's database (or another one on it).

        `remote=False` for commands that name their databases themselves (`db diff --from`).
        The stack's Postgres listens on loopback without TLS: saying so keeps the CLI's warning
        about it out of its output (JSON from `db advisors -o json`, SQL from `db diff`)."""
        if not SUPABASE_CLI.exists():
            raise StackError(f"Supabase CLI missing at {SUPABASE_CLI}: run `npm ci` first")
        target = [f"--remote={db_url or self.url}"] if remote else []
        result = subprocess.run(
            [
                str(SUPABASE_CLI),
                *args,
                *target,
                "--yes",
                f"--workdir={self.settings.supabase_dir.parent}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env={**os.environ, "PGSSLMODE": "disable"},
        )
        if check and result.returncode != 0:
            raise StackError(f"supabase {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def lay_platform(self, database: str = "postgres") -> None:
        """Create the Supabase platform objects the migrations expect (idempotent)."""
        postgres.psql(
            self.settings,
            self.secrets,
            "-f",
            str(PLATFORM_SQL),
            database=database,
            variables={
                "authenticator_password": self.secrets.authenticator_password,
                "postgres_password": self.secrets.postgres_password,
            },
            admin=True,
        )

    def migrate(self, issuer: str) -> None:
        """`supabase migration up`, then what a hosted project sets by itself: the token issuer
        the database checks, and the worker's password."""
        if self.adopt_squashed_history(self.url):
            log("migrations: history from before the baseline recorded as the baseline")
        log("migrations: supabase migration up")
        result = self.supabase_cli("migration", "up")
        for line in (result.stderr + result.stdout).splitlines():
            if line.startswith(("Applying", "Local database", "Remote database")):
                log(line)
        # Tokens of this stack come from its own issuer; the database checks it (see
        # supabase/schemas/95_request_checks.sql).
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("update private.token_settings set issuer = %s", (issuer,))
            # The worker's role is made without a password (hosted projects set one themselves);
            # this stack's comes from its secrets.
            conn.execute(
                psycopg.sql.SQL("alter role kb_embedding_worker with login password {}").format(
                    psycopg.sql.Literal(self.secrets.worker_password)
                )
            )
        # A running PostgREST must see new tables and functions (Supabase's CLI does the same).
        postgres.psql(self.settings, self.secrets, "-c", "notify pgrst, 'reload schema'")
        for replica in self.replicas():
            replicas.refresh(replica, self.secrets)

    def seed(self) -> None:
        seed = self.settings.supabase_dir / "seed.sql"
        if seed.exists():
            log("seed: supabase/seed.sql")
            postgres.psql(self.settings, self.secrets, "-f", str(seed))

    def adopt_squashed_history(self, url: str) -> bool:
        """A database migrated before the squash: its history names the squashed migrations,
        which `supabase migration up` refuses to go past. If it ends with the last of them (so it
        holds what the baseline and its rows make), record the baseline as applied instead, so
        `migration up` applies what came after. True if the history was changed."""
        with psycopg.connect(url, autocommit=True) as conn:
            exists = conn.execute(
                "select to_regclass('supabase_migrations.schema_migrations') is not null"
            ).fetchone()
            if not exists or not exists[0]:
                return False
            versions = [
                row[0]
                for row in conn.execute(
                    "select version from supabase_migrations.schema_migrations order by version"
                ).fetchall()
            ]
        if not versions or versions[-1] != LAST_SQUASHED_VERSION:
            return False
        self.supabase_cli("migration", "repair", "--status", "reverted", *versions, db_url=url)
        self.supabase_cli(
            "migration", "repair", "--status", "applied", *BASELINE_VERSIONS, db_url=url
        )
        return True
