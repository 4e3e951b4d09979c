"""Migrations apply to an empty database in one go, then report that it is up to date; and each
one alone, in a session of its own, as the non-superuser `postgres` hosted gives a project."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from local_stack import postgres, schema
from local_stack.stack import LocalStack

MIGRATIONS = sorted(p.name for p in Path("supabase/migrations").glob("*.sql"))
# Two of the squashed migrations' versions: the first and the last.
SQUASHED = ["20261126000100", schema.LAST_SQUASHED_VERSION]
BASELINE = list(zip(schema.BASELINE_VERSIONS, ("baseline", "rows_and_role_settings"), strict=True))


@pytest.fixture
def empty_database(stack: LocalStack, db: psycopg.Connection) -> Iterator[str]:
    name = f"migration_check_{uuid.uuid4().hex[:8]}"
    db.execute(f'create database "{name}"')
    try:
        stack.lay_platform(database=name)
        yield postgres.url(stack.settings, stack.secrets, database=name)
    finally:
        db.execute(f'drop database "{name}" with (force)')


def test_migrations_apply_once_then_report_up_to_date(
    stack: LocalStack, empty_database: str
) -> None:
    # The baseline (supabase/schemas/ as a migration), its rows, and what followed.
    assert MIGRATIONS[:2] == [f"{version}_{name}.sql" for version, name in BASELINE]
    first = stack.supabase_cli("migration", "up", db_url=empty_database)
    applied = [
        line.removeprefix("Applying migration ").removesuffix("...")
        for line in (first.stderr + first.stdout).splitlines()
        if line.startswith("Applying migration")
    ]
    assert applied == MIGRATIONS
    second = stack.supabase_cli("migration", "up", db_url=empty_database)
    output = second.stderr + second.stdout
    assert "database is up to date." in output  # "Remote database ..." since CLI 3.x
    assert "Applying" not in output
    listed = stack.supabase_cli("migration", "list", db_url=empty_database)
    for name in MIGRATIONS:
        assert name.split("_", 1)[0] in listed.stdout


def test_each_migration_applies_alone_in_a_fresh_session_as_non_superuser_postgres(
    stack: LocalStack, empty_database: str
) -> None:
    """What `supabase db push` does to a hosted project one migration behind: the migration is
    the first statement of its session (no earlier one loaded pgvector), run by `postgres`."""
    with psycopg.connect(empty_database) as conn:
        assert conn.execute(
            "select current_user, rolsuper from pg_roles where rolname = current_user"
        ).fetchone() == ("postgres", False)
    database = empty_database.rsplit("/", 1)[1]
    for name in MIGRATIONS:
        # psql --single-transaction: one new connection, one transaction, as the CLI runs one.
        postgres.psql(
            stack.settings,
            stack.secrets,
            "--single-transaction",
            "-f",
            f"supabase/migrations/{name}",
            database=database,
        )
    with psycopg.connect(empty_database) as conn:
        assert conn.execute(
            "select count(*) from pg_proc where oid = 'public.match_documents'::regproc "
            "and proconfig @> array['hnsw.iterative_scan=relaxed_order']"
        ).fetchone() == (1,)


def _history(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select version from supabase_migrations.schema_migrations order by 1"
        ).fetchall()
    return [version for (version,) in rows]


def _record_history(url: str, versions: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("delete from supabase_migrations.schema_migrations")
        for version in versions:
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version) values (%s)",
                (version,),
            )


def test_a_database_migrated_before_the_baseline_is_recorded_as_the_baseline(
    stack: LocalStack, empty_database: str
) -> None:
    # What a database that applied every squashed migration holds: their final state, which the
    # baseline and its rows restate (tests/database/test_schema_drift.py), under their names.
    database = empty_database.rsplit("/", 1)[1]
    for version, name in BASELINE:
        path = f"supabase/migrations/{version}_{name}.sql"
        postgres.psql(stack.settings, stack.secrets, "-f", path, database=database)
    # (The CLI makes the history table; the squashed names then replace what it recorded.)
    stack.supabase_cli(
        "migration",
        "repair",
        "--status",
        "applied",
        *schema.BASELINE_VERSIONS,
        db_url=empty_database,
    )
    _record_history(empty_database, SQUASHED)
    refused = stack.supabase_cli("migration", "up", db_url=empty_database, check=False)
    assert refused.returncode != 0
    assert "Remote migration versions not found" in refused.stdout + refused.stderr

    assert schema.adopt_squashed_history(stack, empty_database)

    assert _history(empty_database) == list(schema.BASELINE_VERSIONS)
    later = stack.supabase_cli("migration", "up", db_url=empty_database)
    applied = [line for line in (later.stderr + later.stdout).splitlines() if "Applying" in line]
    assert len(applied) == len(MIGRATIONS) - len(BASELINE)
    assert _history(empty_database) == [name.split("_", 1)[0] for name in MIGRATIONS]
    assert not schema.adopt_squashed_history(stack, empty_database)


def test_a_database_that_stopped_before_the_last_squashed_migration_is_left_alone(
    stack: LocalStack, empty_database: str
) -> None:
    stack.supabase_cli("migration", "up", db_url=empty_database)
    # Its schema is older than the baseline's: recording the baseline would hide that.
    _record_history(empty_database, [*SQUASHED[:1], "20261201000100"])
    assert not schema.adopt_squashed_history(stack, empty_database)
    assert _history(empty_database) == [*SQUASHED[:1], "20261201000100"]
