"""Shared fixtures: the running embedded stack, and people with real tokens."""

from collections.abc import Iterator

import psycopg
import pytest

from local_stack.stack import LocalStack


@pytest.fixture(scope="session")
def stack() -> LocalStack:
    """The local stack, started if it is not running (the same one `make up` starts)."""
    local = LocalStack()
    local.start()
    return local


@pytest.fixture
def db(stack: LocalStack) -> Iterator[psycopg.Connection]:
    """A superuser connection for arranging data and checking what really is in the tables."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn
