"""Migrations apply to an empty database in one go, then report that it is up to date."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from local_stack import postgres
from local_stack.stack import LocalStack

MIGRATIONS = sorted(p.name for p in Path("supabase/migrations").glob("*.sql"))


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
    assert len(MIGRATIONS) >= 10
    first = stack.supabase_cli("migration", "up", db_url=empty_database)
    applied = [
        line.removeprefix("Applying migration ").removesuffix("...")
        for line in (first.stderr + first.stdout).splitlines()
        if line.startswith("Applying migration")
    ]
    assert applied == MIGRATIONS
    second = stack.supabase_cli("migration", "up", db_url=empty_database)
    output = second.stderr + second.stdout
    assert "Local database is up to date." in output
    assert "Applying" not in output
    listed = stack.supabase_cli("migration", "list", db_url=empty_database)
    for name in MIGRATIONS:
        assert name.split("_", 1)[0] in listed.stdout
