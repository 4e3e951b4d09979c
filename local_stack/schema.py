"""The schema as code, without Docker: scratch databases built from supabase/migrations/ or from
supabase/schemas/, their difference written as a new migration, and drift between the two.

`supabase db diff` builds its shadow database in Docker. Here both databases are scratch
databases on the stack's own Postgres, each with the platform objects laid first (as
`supabase start` has them): one gets the migrations (`supabase migration up`), the other the
schema files in the order of their names (psql, stopping at the first error). The difference
between their catalogs is computed by the differ the pinned Supabase CLI bundles (pg-delta:
`supabase db diff --from <url> --to <url>`, which needs no Docker) and written as a migration.
"""

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from local_stack import catalog, postgres
from local_stack.processes import StackError, pid_alive

if TYPE_CHECKING:
    from local_stack.stack import LocalStack

SCRATCH_PREFIX = "kb_scratch_"

# The migrations squashed into the baseline, which restates their final state object for object:
# a database whose history ends with the last of them holds exactly what the baseline and the
# rows after it make (adopt_squashed_history).
LAST_SQUASHED_VERSION = "20261203001000"
BASELINE_VERSIONS = ("20261206000100", "20261206000200")


def schema_files(stack: "LocalStack") -> list[Path]:
    return sorted((stack.settings.supabase_dir / "schemas").glob("*.sql"))


def migration_files(stack: "LocalStack") -> list[Path]:
    return sorted((stack.settings.supabase_dir / "migrations").glob("*.sql"))


@contextmanager
def scratch_database(stack: "LocalStack", label: str) -> Iterator[str]:
    """A new database on the stack's Postgres with the platform objects laid; its URL. Dropped
    afterwards, whatever happens (one left by a killed process is dropped by the next call)."""
    name = f"{SCRATCH_PREFIX}{label}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(stack.db_url, autocommit=True) as admin:
        _drop_orphans(admin)
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        stack.lay_platform(database=name)
        yield postgres.url(stack.settings, stack.secrets, name)
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def _drop_orphans(admin: psycopg.Connection) -> None:
    for (name,) in admin.execute(
        "select datname from pg_database where datname like %s", (SCRATCH_PREFIX + "%",)
    ).fetchall():
        pid = name.removeprefix(SCRATCH_PREFIX).split("_")[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def apply_migrations(stack: "LocalStack", url: str) -> None:
    stack.supabase_cli("migration", "up", db_url=url)


def apply_schemas(stack: "LocalStack", url: str) -> None:
    files = schema_files(stack)
    if not files:
        raise StackError(f"no schema files in {stack.settings.supabase_dir / 'schemas'}")
    database = url.rsplit("/", 1)[1]
    # One session for all, as a migration is one: 01_pgvector.sql loads pgvector for the files
    # after it (a function's `set hnsw.*` needs it).
    arguments = [argument for file in files for argument in ("-f", str(file))]
    postgres.psql(stack.settings, stack.secrets, *arguments, database=database)


@dataclass(frozen=True)
class Drift:
    """The catalogs of a database built from the migrations and one built from the schemas."""

    migrations: list[str]
    schemas: list[str]

    @property
    def difference(self) -> list[str]:
        return catalog.difference(self.migrations, self.schemas, ("migrations", "schemas"))


def drift(stack: "LocalStack") -> Drift:
    with (
        scratch_database(stack, "migrations") as migrated,
        scratch_database(stack, "schemas") as declared,
    ):
        apply_migrations(stack, migrated)
        apply_schemas(stack, declared)
        return Drift(catalog.describe_url(migrated), catalog.describe_url(declared))


@dataclass(frozen=True)
class NewMigration:
    """What `kb-stack db diff` wrote (None: nothing to write), and what the written migration
    leaves different between the two catalogs: changes the differ cannot express, to be written
    by hand (empty when it brings the migrations to the schemas exactly)."""

    path: Path | None
    unexpressed: list[str]


def write_migration(stack: "LocalStack", name: str) -> NewMigration:
    """The difference from the migrations to the schemas, as a new migration named `name`."""
    if not name.replace("_", "").isalnum() or not name.islower():
        raise StackError(f"a migration name is lowercase letters, digits and _: {name!r}")
    with (
        scratch_database(stack, "migrations") as migrated,
        scratch_database(stack, "schemas") as declared,
    ):
        apply_migrations(stack, migrated)
        apply_schemas(stack, declared)
        statements = diff_sql(stack, migrated, declared)
        if not statements:
            return NewMigration(None, [])
        path = stack.settings.supabase_dir / "migrations" / f"{_next_version(stack)}_{name}.sql"
        path.write_text(
            _HEADER.format(name=name) + pgvector_preamble(stack, statements) + statements
        )
        # The proof: the migrations, now with this one, reach the schemas' catalog.
        apply_migrations(stack, migrated)
        left = catalog.difference(
            catalog.describe_url(migrated),
            catalog.describe_url(declared),
            ("migrations", "schemas"),
        )
    return NewMigration(path, left)


_HEADER = """\
-- {name}: generated by `kb-stack db diff {name}` from supabase/schemas/ (pg-delta, bundled in
-- the Supabase CLI). Review it; hand-written additions go below, not in the generated part.

"""


# A function's `set hnsw.ef_search = ...` (or ivfflat.*), as pg-delta writes it.
_SETS_PGVECTOR_OPTION = re.compile(r"\bSET\s+\"?(hnsw|ivfflat)\.", re.IGNORECASE)
PGVECTOR_CHECK = "01_pgvector.sql"


def pgvector_preamble(stack: "LocalStack", statements: str) -> str:
    """supabase/schemas/01_pgvector.sql when `statements` set a pgvector option: a non-superuser
    may set hnsw.* only once pgvector's library is loaded in the session, and a migration may be
    the first statement of its session (that file says why). '' otherwise."""
    if not _SETS_PGVECTOR_OPTION.search(statements):
        return ""
    check = (stack.settings.supabase_dir / "schemas" / PGVECTOR_CHECK).read_text()
    return (
        f"-- pgvector checked and loaded first: supabase/schemas/{PGVECTOR_CHECK}, written by\n"
        f"-- `kb-stack db diff` because this migration sets a pgvector option.\n{check}\n"
    )


_SESSION_SETTING = "SET local check_function_bodies = off;"
_NOTICE_SIGNS = ("│", "▲", "●", "◆", "■", "└", "┌", "╭", "╰")


def diff_sql(stack: "LocalStack", source: str, target: str) -> str:
    """The statements that turn `source`'s schema into `target`'s ('' when they agree)."""
    result = stack.supabase_cli("db", "diff", "--from", source, "--to", target, remote=False)
    text = result.stdout.strip()
    # The differ may open with a boxed notice on stdout (object kinds it does not manage, e.g.
    # the cluster's parameter ACL), each line marked by a box-drawing sign: not SQL.
    text = "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith(_NOTICE_SIGNS)
    ).strip()
    # The differ opens with a session setting for applying it; alone, it changes nothing.
    meaningful = [
        line for line in text.splitlines() if line.strip() and line.strip() != _SESSION_SETTING
    ]
    return text + "\n" if meaningful else ""


def _next_version(stack: "LocalStack") -> str:
    """A UTC timestamp, as `supabase migration new` names files; later than every migration even
    when this machine's clock is behind the one that wrote the last."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    latest = max((p.name.split("_", 1)[0] for p in migration_files(stack)), default="")
    if latest:
        now = max(now, datetime.strptime(latest, "%Y%m%d%H%M%S") + timedelta(seconds=1))
    return now.strftime("%Y%m%d%H%M%S")


def adopt_squashed_history(stack: "LocalStack", url: str) -> bool:
    """A database migrated before the squash: its history names the squashed migrations, which
    `supabase migration up` refuses to go past. If it ends with the last of them (so it holds
    what the baseline and its rows make), record the baseline as applied instead, so `migration
    up` applies what came after. True if the history was changed."""
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
    stack.supabase_cli("migration", "repair", "--status", "reverted", *versions, db_url=url)
    stack.supabase_cli("migration", "repair", "--status", "applied", *BASELINE_VERSIONS, db_url=url)
    return True
