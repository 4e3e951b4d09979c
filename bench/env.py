"""The running stack, discovered the way every client finds it (`kb-stack status -o env`), and
benchmark users in its main database that are always deleted afterwards."""

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from local_stack.processes import StackError
from local_stack.stack import LocalStack
from local_stack.users import User


class StackNotRunning(RuntimeError):
    pass


@dataclass(frozen=True)
class StackEnv:
    stack: LocalStack
    db_url: str
    api_url: str  # the gateway: SUPABASE_URL, /rest/v1 behind it
    postgrest_url: str  # PostgREST itself, no gateway
    kb_api_url: str  # the running edge API
    anon_key: str
    jwt_secret: str

    def edge_environment(self) -> dict[str, str]:
        """Settings for an edge process of our own (knowledge_core.settings names)."""
        return self.stack.services.edge_environment()


def discover(*, need_api: bool, log: Callable[[str], None]) -> StackEnv:
    """The stack's addresses and keys; starts it (`kb-stack start`) if a part we need is down.

    Only what the run needs is checked (Postgres, PostgREST, the gateway, and the API for the
    edge section): the MCP server is optional, and section 3 says so when it is missing.
    """
    stack = LocalStack()
    needed = ["postgres", "postgrest", "gateway", *(["api"] if need_api else [])]

    def missing() -> list[str]:
        parts = stack.running()
        return [name for name in needed if not parts.get(name)]

    if missing():
        log(f"the local stack is not fully running ({', '.join(missing())}): starting it")
        try:
            stack.start()
        except StackError as error:
            raise StackNotRunning(f"the local stack cannot start: {error}") from error
        if missing():
            raise StackNotRunning(f"the local stack is not running: {', '.join(missing())}")
    env = stack.status_env()
    return StackEnv(
        stack=stack,
        db_url=env["DB_URL"],
        api_url=env["API_URL"],
        postgrest_url=env["POSTGREST_URL"],
        kb_api_url=env["KB_API_URL"],
        anon_key=env["ANON_KEY"],
        jwt_secret=env["JWT_SECRET"],
    )


@contextmanager
def bench_user(stack: LocalStack, label: str) -> Iterator[User]:
    """A user in the main database for the run; deleting it deletes everything it owns."""
    user = stack.create_user(f"bench-{label}-{uuid.uuid4().hex[:10]}@bench.local")
    try:
        yield user
    finally:
        stack.delete_user(user)
