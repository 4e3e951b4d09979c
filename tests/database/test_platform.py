"""The local stack's platform is as strict as hosted Supabase (local_stack/platform.sql): the
project's `postgres` is no superuser, new objects in `public` are granted to no API role, the
API roles have hosted's attributes and timeouts, and pgvector is supabase_admin's in
`extensions`. A test passing here that hosted would refuse is what this guards against."""

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from local_stack import postgres
from local_stack.stack import LocalStack

API_ROLES = ("anon", "authenticated", "service_role")


def test_postgres_is_no_superuser_but_has_what_hosted_gives_it(db: psycopg.Connection) -> None:
    row = db.execute(
        """select current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication,
                  rolbypassrls, rolinherit, rolcanlogin
           from pg_roles where rolname = current_user"""
    ).fetchone()
    assert row == ("postgres", False, True, True, True, True, True, True)
    members_of = {
        name
        for (name,) in db.execute(
            """select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid
               where m.member = 'postgres'::regrole"""
        ).fetchall()
    }
    # (Postgres 16+ also makes postgres an admin of the roles it creates: the worker's.)
    assert members_of - {"kb_embedding_worker"} == {
        "anon",
        "authenticated",
        "service_role",
        "authenticator",
        "pg_monitor",
        "pg_read_all_data",
        "pg_signal_backend",
    }
    superuser = db.execute("select rolname from pg_roles where rolsuper").fetchall()
    assert superuser == [("supabase_admin",)]


def test_api_roles_are_made_as_hosted_makes_them(db: psycopg.Connection) -> None:
    rows = {
        name: (inherit, bypass, login, sorted(config or []))
        for name, inherit, bypass, login, config in db.execute(
            """select rolname, rolinherit, rolbypassrls, rolcanlogin, rolconfig from pg_roles
               where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')"""
        ).fetchall()
    }
    assert rows["anon"] == (True, False, False, ["statement_timeout=3s"])
    assert rows["authenticated"] == (True, False, False, ["statement_timeout=8s"])
    assert rows["service_role"] == (True, True, False, [])
    inherit, bypass, login, config = rows["authenticator"]
    assert (inherit, bypass, login) == (False, False, True)
    assert {"statement_timeout=8s", "lock_timeout=8s"} <= set(config)


@pytest.fixture
def scratch_objects(db: psycopg.Connection) -> Iterator[str]:
    name = f"probe_{uuid.uuid4().hex[:8]}"
    yield name
    db.execute(f"drop table if exists public.{name}")
    db.execute(f"drop function if exists public.{name}()")


def test_a_new_public_table_and_function_are_granted_to_no_api_role(
    db: psycopg.Connection, scratch_objects: str
) -> None:
    """Hosted stopped granting new objects in `public` to the API roles (2026): each is granted
    beside its definition, or nobody may use it. Functions: Postgres grants EXECUTE to PUBLIC,
    which the schema's global default privilege takes back (00_extensions_and_schemas.sql)."""
    name = scratch_objects
    db.execute(f"create table public.{name} (x int)")
    db.execute(f"create function public.{name}() returns int language sql as 'select 1'")
    for role in API_ROLES:
        assert db.execute(
            "select has_table_privilege(%s, %s, 'select,insert,update,delete,truncate,references,"
            "trigger')",
            (role, f"public.{name}"),
        ).fetchone() == (False,), role
        assert db.execute(
            "select has_function_privilege(%s, %s, 'execute')", (role, f"public.{name}()")
        ).fetchone() == (False,), role
    # The stack's start lays the platform again: it must not grant them either.
    granted = db.execute(
        """select count(*) from pg_default_acl d, aclexplode(d.defaclacl) g
           where d.defaclrole = 'postgres'::regrole
             and g.grantee = any (array['anon', 'authenticated', 'service_role']::regrole[])"""
    ).fetchone()
    assert granted == (0,)


def test_a_restart_lays_the_platform_without_widening_anything(
    stack: LocalStack, db: psycopg.Connection, scratch_objects: str
) -> None:
    name = scratch_objects
    db.execute(f"create table public.{name} (x int)")
    stack.lay_platform()
    assert db.execute(
        "select count(*) from information_schema.role_table_grants "
        "where table_name = %s and grantee = any (%s)",
        (name, list(API_ROLES)),
    ).fetchone() == (0,)


def test_pgvector_is_supabase_admins_in_extensions(db: psycopg.Connection) -> None:
    row = db.execute(
        """select e.extnamespace::regnamespace::text, pg_get_userbyid(e.extowner)
           from pg_extension e where e.extname = 'vector'"""
    ).fetchone()
    assert row == ("extensions", "supabase_admin")
    # Not loadable by postgres itself: the schema loads it by using the type (01_pgvector.sql).
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        db.execute("load 'vector'")


def test_postgres_may_set_what_supautils_lets_it_and_nothing_else(
    stack: LocalStack, db: psycopg.Connection
) -> None:
    """PostgREST's in-database settings (pgrst.*) on the authenticator, as hosted's docs have
    users do; not a parameter only a superuser may set."""
    with db.transaction(force_rollback=True):
        db.execute("alter role authenticator set pgrst.db_max_rows = '500'")
        db.execute("set local session_replication_role = replica")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("alter role authenticator set log_min_error_statement = 'error'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("alter role authenticator set pgrst.not_a_postgrest_setting = 'x'")


def test_only_the_platform_uses_the_superuser(stack: LocalStack) -> None:
    """The stack's own login (DB_URL) is postgres's; supabase_admin's is another."""
    assert stack.status_env()["DB_URL"].startswith("postgresql://postgres:")
    with psycopg.connect(postgres.admin_url(stack.settings, stack.secrets)) as admin:
        assert admin.execute(
            "select rolsuper from pg_roles where rolname = current_user"
        ).fetchone() == (True,)
