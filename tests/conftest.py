"""Shared fixtures: the running embedded stack, and people with real tokens."""

import shutil
from collections.abc import Iterator

import psycopg
import pytest

from local_stack.stack import LocalStack
from tests.support import register_test_models


@pytest.fixture(scope="session")
def stack() -> LocalStack:
    """The local stack, started if it is not running (the same one `make up` starts)."""
    local = LocalStack()
    local.start()
    register_test_models(local)
    return local


@pytest.fixture
def db(stack: LocalStack) -> Iterator[psycopg.Connection]:
    """postgres's connection, for arranging data and checking what really is in the tables: what
    hosted gives a project's owner (RLS bypassed, no superuser), so a test cannot lean on more."""
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def replica_stack(stack: LocalStack) -> Iterator[LocalStack]:
    """A stack of its own with one read replica (ports 24421-24443), without an edge: tests run
    the API in-process against it; its embedding worker uses the main stack's model. Removed
    after the session. Tests that need the replica behind pause its replay
    (tests.support.replay_paused) rather than race it."""
    from tests.support import second_stack_settings

    settings = second_stack_settings("replica-test", 24421)
    local = LocalStack(settings)
    local.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    local = LocalStack(settings)
    local.start(edge=False, replicas=1)
    register_test_models(local)
    local.worker(embedder_url=stack.embedder_url).start()
    yield local
    local.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)
