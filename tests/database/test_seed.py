"""supabase/seed.sql writes users Supabase Auth (GoTrue) can read and sign in, checked against
the auth schema as GoTrue's migrations leave it (local_stack/platform.sql copies it).

Supabase Auth cannot run here, so the test asks what GoTrue's code asks: its password sign-in
looks a user up by the nil instance id, lowercased email, audience and is_sso_user = false, then
scans the row into a Go struct in which some columns are plain strings, times and integers (a
NULL there is an error: the sign-in answers 500, supabase/auth#1940), checks the bcrypt hash and
the confirmed email. GoTrue always makes an `email` identity for such a user.
"""

from collections.abc import Iterator

import bcrypt
import psycopg
import pytest
from psycopg import sql

from local_stack import postgres, schema
from local_stack.stack import LocalStack

DEMO_PASSWORD = "knowledge-demo"  # supabase/seed.sql and docs/local-stack.md say so
SEEDED = ("alice@example.com", "bob@example.com")
NIL_INSTANCE = "00000000-0000-0000-0000-000000000000"
# Columns of GoTrue's models.User scanned into non-pointer Go types (internal/models/user.go).
GO_STRINGS = (
    "aud",
    "role",
    "confirmation_token",
    "recovery_token",
    "email_change_token_current",
    "email_change_token_new",
    "email_change",
    "phone_change_token",
    "phone_change",
    "reauthentication_token",
)
GO_VALUES = (
    "created_at",
    "updated_at",
    "email_change_confirm_status",
    "raw_app_meta_data",
    "raw_user_meta_data",
)


@pytest.fixture(scope="module")
def seeded(stack: LocalStack) -> Iterator[psycopg.Connection]:
    """A database of its own: the platform, the migrations, then the seed."""
    with schema.scratch_database(stack, "seed") as url:
        schema.apply_migrations(stack, url)
        database = url.rsplit("/", 1)[1]
        postgres.psql(stack.settings, stack.secrets, "-f", "supabase/seed.sql", database=database)
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn


def test_the_auth_schema_leaves_the_seed_to_write_the_strings(
    seeded: psycopg.Connection,
) -> None:
    """As in GoTrue's schema: these four have no default, so a row that omits them holds NULL.
    (Were the platform kinder than GoTrue, the seed could omit them here and break there.)"""
    rows = seeded.execute(
        """select column_name, is_nullable, column_default from information_schema.columns
           where table_schema = 'auth' and table_name = 'users'
             and column_name in ('confirmation_token', 'recovery_token',
                                 'email_change_token_new', 'email_change')"""
    ).fetchall()
    assert sorted(rows) == sorted(
        (name, "YES", None)
        for name in (
            "confirmation_token",
            "recovery_token",
            "email_change_token_new",
            "email_change",
        )
    )


@pytest.mark.parametrize("email", SEEDED)
def test_supabase_auth_finds_and_reads_each_seeded_user(
    seeded: psycopg.Connection, email: str
) -> None:
    query = sql.SQL(
        """select id, {columns}, email_confirmed_at, banned_until, encrypted_password
           from auth.users
           where instance_id = %s and lower(email) = lower(%s) and aud = 'authenticated'
             and is_sso_user = false"""
    ).format(columns=sql.SQL(", ").join(map(sql.Identifier, (*GO_STRINGS, *GO_VALUES))))
    rows = seeded.execute(query, (NIL_INSTANCE, email)).fetchall()
    assert len(rows) == 1
    row = dict(
        zip(("id", *GO_STRINGS, *GO_VALUES, "confirmed", "banned", "hash"), rows[0], strict=True)
    )
    assert [name for name in (*GO_STRINGS, *GO_VALUES) if row[name] is None] == []
    assert row["role"] == "authenticated"
    assert row["confirmed"] is not None  # an email sign-in needs a confirmed email
    assert row["banned"] is None
    # bcrypt at cost 10: GoTrue checks it and would rehash a cost above its default or at 4.
    hashed = str(row["hash"]).encode()
    assert hashed.startswith(b"$2a$10$")
    assert bcrypt.checkpw(DEMO_PASSWORD.encode(), hashed)


@pytest.mark.parametrize("email", SEEDED)
def test_each_seeded_user_has_the_email_identity_supabase_auth_makes(
    seeded: psycopg.Connection, email: str
) -> None:
    row = seeded.execute(
        """select i.provider_id = u.id::text, i.identity_data ->> 'sub' = u.id::text,
                  i.email, i.created_at is not null and i.updated_at is not null
           from auth.users u join auth.identities i on i.user_id = u.id
           where u.email = %s and i.provider = 'email'""",
        (email,),
    ).fetchall()
    assert row == [(True, True, email, True)]


def test_the_seeded_workspace_is_alices_and_bob_reads_it(seeded: psycopg.Connection) -> None:
    rows = seeded.execute(
        """select u.email, m.role::text from public.workspace_members m
           join auth.users u on u.id = m.user_id order by 1"""
    ).fetchall()
    assert rows == [("alice@example.com", "owner"), ("bob@example.com", "viewer")]
