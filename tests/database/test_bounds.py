"""knowledge_core.limits against the SQL that enforces the same things: every bound the doors
state is accepted by the database at its edge, and where the doors' bound is the database's own,
one past it is refused there too. (tests/test_doors_agree.py holds the doors to the limits.)"""

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from knowledge_core import limits
from local_stack.stack import LocalStack
from local_stack.users import User
from tests.support import make_user

QUERY = "[" + ",".join(["0.05"] * 384) + "]"


@pytest.fixture(scope="module")
def owner(stack: LocalStack) -> Iterator[User]:
    user = make_user(stack, "bounds")
    yield user
    stack.delete_user(user)


def refused(db: psycopg.Connection, statement: str, params: Any = ()) -> str:
    """The database's refusal of `statement` (in a transaction rolled back either way)."""
    try:
        with db.transaction():
            db.execute(statement, params)
            raise AssertionError(f"accepted: {statement[:80]}")
    except psycopg.errors.CheckViolation as error:
        return str(error.diag.constraint_name)
    except psycopg.errors.InvalidParameterValue as error:
        return str(error.diag.message_primary)


def fits(db: psycopg.Connection, statement: str, params: Any = ()) -> None:
    """`statement` is accepted; nothing of it is kept (psycopg.Rollback ends the transaction)."""
    with db.transaction():
        db.execute(statement, params)
        raise psycopg.Rollback()


def test_search_bounds_are_within_both_searches(db: psycopg.Connection) -> None:
    db.execute(
        "select * from public.hybrid_search(%s, %s::extensions.vector, %s, match_threshold => %s)",
        ("x" * limits.MAX_QUERY_CHARS, QUERY, limits.MAX_K, limits.MAX_THRESHOLD),
    )
    db.execute(
        "select * from public.match_documents(%s::extensions.vector, %s, match_threshold => %s)",
        (QUERY, limits.MAX_K, limits.MIN_THRESHOLD),
    )
    too_long = refused(
        db,
        "select * from public.hybrid_search(%s, %s::extensions.vector, %s)",
        ("x" * (limits.MAX_QUERY_CHARS + 1), QUERY, limits.MAX_K),
    )
    assert f"at most {limits.MAX_QUERY_CHARS} characters" in too_long
    too_similar = refused(
        db,
        "select * from public.hybrid_search('x', %s::extensions.vector, 5, match_threshold => %s)",
        (QUERY, limits.MAX_THRESHOLD + 0.001),
    )
    assert "match_threshold must be a similarity between -1 and 1" in too_similar


def test_search_bounds_are_within_keyword_search(db: psycopg.Connection) -> None:
    db.execute(
        "select * from public.keyword_search(%s, %s)", ("x" * limits.MAX_QUERY_CHARS, limits.MAX_K)
    )
    too_long = refused(
        db,
        "select * from public.keyword_search(%s, %s)",
        ("x" * (limits.MAX_QUERY_CHARS + 1), limits.MAX_K),
    )
    assert f"at most {limits.MAX_QUERY_CHARS} characters" in too_long


@pytest.mark.parametrize(
    ("column", "limit", "constraint"),
    [
        ("title", limits.MAX_TITLE_CHARS, "documents_title_check"),
        ("source", limits.MAX_SOURCE_CHARS, "documents_source_check"),
        ("category", limits.MAX_CATEGORY_CHARS, "documents_category_check"),
        ("content", limits.MAX_DOCUMENT_CHARS, "documents_content_check"),
    ],
)
def test_document_fields_hold_what_the_doors_accept_and_no_more(
    db: psycopg.Connection, owner: User, column: str, limit: int, constraint: str
) -> None:
    fields = {"owner_id": owner.id, "title": "t", "content": "text"}

    def insert(value: str) -> tuple[str, list[Any]]:
        row = {**fields, column: value}
        names = ", ".join(row)
        marks = ", ".join(["%s"] * len(row))
        statement = f"insert into public.documents ({names}) values ({marks})"  # noqa: S608
        return statement, list(row.values())

    fits(db, *insert("w" * limit))
    assert refused(db, *insert("w" * (limit + 1))) == constraint


def test_workspaces_and_roles_are_the_doors(db: psycopg.Connection, owner: User) -> None:
    roles = db.execute("select enum_range(null::public.workspace_role)::text[]").fetchone()
    assert roles is not None and tuple(roles[0]) == limits.WORKSPACE_ROLES
    name = "insert into public.workspaces (name, created_by) values (%s, %s)"
    fits(db, name, ("w" * limits.MAX_WORKSPACE_NAME_CHARS, owner.id))
    too_long = ("w" * (limits.MAX_WORKSPACE_NAME_CHARS + 1), owner.id)
    assert refused(db, name, too_long) == "workspaces_name_check"
