"""The stack's lifecycle on its own ports and data: restart, reuse, crash recovery, conflicts.

These run a second stack beside the main one, so they never disturb the one other tests use.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import psycopg
import pytest

from local_stack import postgres, postgrest
from local_stack.processes import StackError
from local_stack.settings import REPO_ROOT, StackSettings
from local_stack.stack import LocalStack
from tests.support import rest_client, second_stack_settings, stack_cli, supabase_client

STATUS_NAMES = {"API_URL", "REST_URL", "DB_URL", "JWT_SECRET", "ANON_KEY", "SERVICE_ROLE_KEY"}


def _settings() -> StackSettings:
    return second_stack_settings("lifecycle-test", 25421)


@pytest.fixture(scope="module")
def second() -> Iterator[LocalStack]:
    settings = _settings()
    stack = LocalStack(settings)
    stack.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    stack = LocalStack(settings)
    stack.start()
    yield stack
    stack.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)


def _write_note(stack: LocalStack, text: str) -> None:
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        db.execute("create table if not exists public.restart_probe (note text)")
        db.execute("alter table public.restart_probe enable row level security")
        db.execute("insert into public.restart_probe values (%s)", (text,))


def _notes(stack: LocalStack) -> list[str]:
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        return [r[0] for r in db.execute("select note from public.restart_probe").fetchall()]


def test_status_prints_supabase_variable_names(second: LocalStack) -> None:
    result = stack_cli(second, "status", "-o", "env")
    assert result.returncode == 0, result.stderr
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert set(printed) >= STATUS_NAMES
    ports = second.settings
    assert printed["API_URL"] == f"http://127.0.0.1:{ports.api_port}"
    assert printed["DB_URL"].endswith(f"@127.0.0.1:{ports.db_port}/postgres")
    assert printed["KB_MCP_URL"] == f"http://127.0.0.1:{ports.edge_mcp_port}/mcp"
    claims = jwt.decode(printed["ANON_KEY"], printed["JWT_SECRET"], algorithms=["HS256"])
    assert claims["role"] == "anon"


def _verified(stack: LocalStack, token: str) -> dict[str, Any]:
    """The claims of a user token the stack minted, checked as PostgREST checks them."""
    claims: dict[str, Any] = jwt.decode(
        token, stack.secrets.jwt_secret, algorithms=["HS256"], audience="authenticated"
    )
    return claims


def test_user_command_mints_supabase_auth_claims(second: LocalStack) -> None:
    """A first-party session's token, then an agent's, each shaped as Supabase Auth issues it."""
    result = stack_cli(second, "user", "someone@example.com", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    claims = _verified(second, printed["access_token"])
    assert claims["sub"] == printed["id"]
    assert claims["role"] == "authenticated"
    assert claims["aud"] == "authenticated"  # a string, as GoTrue serialises it
    assert claims["email"] == "someone@example.com"
    assert claims["iss"] == second.auth_issuer
    assert "client_id" not in claims and "scope" not in claims
    assert {
        "iss",
        "exp",
        "iat",
        "aud",
        "session_id",
        "is_anonymous",
        "app_metadata",
        "user_metadata",
        "aal",
        "amr",
    } <= set(claims)
    # supabase-py works against the gateway with it.
    client = supabase_client(second, printed["access_token"])
    assert client.table("documents").select("id").execute().data == []


def test_user_command_mints_an_agents_token_after_its_grant(second: LocalStack) -> None:
    """--client-id: Supabase Auth's OAuth server's shape (client_id, OIDC scopes, a session of
    that client); --grant records what the consent page would."""
    client = str(uuid.uuid4())
    agent = ["user", "someone@example.com", "--client-id", client, "--json"]
    result = stack_cli(second, *agent, "--grant", "read")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    claims = _verified(second, printed["access_token"])
    assert claims["client_id"] == client
    assert claims["scope"] == "openid email"
    assert claims["role"] == "authenticated" and claims["aud"] == "authenticated"
    with psycopg.connect(second.db_url) as db:
        session = db.execute(
            "select oauth_client_id::text, scopes, aal::text from auth.sessions where id = %s",
            (claims["session_id"],),
        ).fetchone()
        granted = db.execute(
            "select access from public.agent_grants where user_id = %s and client_id = %s",
            (printed["id"], client),
        ).fetchone()
    assert session == (client, "openid email", "aal1")
    assert granted == ("read",)
    with rest_client(second, printed["access_token"]) as http:
        assert http.get("/documents", params={"select": "id"}).status_code == 200
    # Revoked: the same command with --grant none.
    assert stack_cli(second, *agent, "--grant", "none").returncode == 0
    with psycopg.connect(second.db_url) as db:
        assert db.execute(
            "select count(*) from public.agent_grants where client_id = %s", (client,)
        ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--client-id", "my-agent"], "a UUID"),
        (["--scope", "knowledge:read"], "add --client-id"),
        (["--grant", "write"], "add --client-id"),
    ],
)
def test_user_command_refuses_tokens_supabase_auth_never_issues(
    second: LocalStack, arguments: list[str], message: str
) -> None:
    result = stack_cli(second, "user", "someone@example.com", *arguments)
    assert result.returncode == 1
    assert message in result.stderr


def test_data_survives_restart_and_second_start_reuses_processes(second: LocalStack) -> None:
    _write_note(second, "before restart")
    pids = (second._gateway().pid(), postgrest.daemon(second.settings).pid())
    second.start()  # already running: nothing restarts
    assert (second._gateway().pid(), postgrest.daemon(second.settings).pid()) == pids
    second.stop()
    assert not any(second.running().values())
    second.start()
    assert all(second.running().values())
    assert "before restart" in _notes(second)


def test_start_after_a_crash(second: LocalStack) -> None:
    """Kill every process hard; the next start must not be blocked by what they left."""
    _write_note(second, "before crash")
    daemons = (
        second._gateway(),
        postgrest.daemon(second.settings),
        second._edge_api(),
        second._edge_mcp(),
    )
    for pid in (daemon.pid() for daemon in daemons):
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    postmaster = int((second.settings.pgdata / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while postgres.is_running(second.settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (second.settings.pgdata / "postmaster.pid").exists(), "a stale lock file is left"
    second.start()
    assert all(second.running().values())
    assert "before crash" in _notes(second)


def test_a_taken_port_gives_a_clear_error(second: LocalStack) -> None:
    second.stop()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", second.settings.api_port))
        squatter.listen()
        with pytest.raises(
            StackError, match=rf"port {second.settings.api_port} is taken.*KB_STACK_API_PORT"
        ):
            second.start()
    second.start()
    assert all(second.running().values())


@pytest.mark.skipif(
    os.geteuid() != 0, reason="only a stack started as root runs Postgres as kbstack"
)
def test_a_state_folder_closed_to_postgres_is_opened_for_passage_only() -> None:
    closed = REPO_ROOT / ".stack" / "closed-folder-test"
    shutil.rmtree(closed, ignore_errors=True)
    closed.mkdir(mode=0o700, parents=True)
    closed.chmod(0o700)  # as mktemp -d makes them
    settings = second_stack_settings("unused", 25431).model_copy(
        update={"state_dir": closed / "state"}
    )
    try:
        assert postgres.initialize(settings, LocalStack(settings).secrets)
        assert (closed / "state" / "pgdata" / "PG_VERSION").exists()
        assert closed.stat().st_mode & 0o777 == 0o711  # pass through, not list or read
    finally:
        shutil.rmtree(closed, ignore_errors=True)


def test_shared_buffers_follow_the_setting_at_every_start(second: LocalStack) -> None:
    """Given on Postgres' command line, so a data folder made with another value takes it too;
    a value Postgres would not read is refused before anything starts."""
    with pytest.raises(ValueError, match="shared_buffers"):
        StackSettings(shared_buffers="lots")
    small = LocalStack(second.settings.model_copy(update={"shared_buffers": "64MB"}))
    small.stop()
    small.start()
    try:
        with psycopg.connect(small.db_url) as db:
            assert db.execute("show shared_buffers").fetchone() == ("64MB",)
    finally:
        small.stop()
        second.start()
    with psycopg.connect(second.db_url) as db:
        assert db.execute("show shared_buffers").fetchone() == (second.settings.shared_buffers,)


def test_a_cluster_made_with_postgres_as_superuser_is_refused_then_made_again_by_reset() -> None:
    """A stack made before it had hosted's roles: `postgres` is its bootstrap superuser, which
    Postgres cannot demote. `start` says so and names the way out; `reset` makes it again."""
    settings = second_stack_settings("old-cluster-test", 25441)
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    old = LocalStack(settings)
    user = postgres.run_as(settings)
    settings.pgdata.mkdir(mode=0o700, parents=True)
    postgres.chown(settings.state_dir, user)
    postgres.chown(settings.pgdata, user)
    password = settings.state_dir / "pw"
    password.write_text(old.secrets.postgres_password)
    postgres.chown(password, user)
    subprocess.run(
        [
            postgres.binary("initdb"),
            "-D",
            str(settings.pgdata),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={password}",
        ],
        user=user,
        check=True,
        capture_output=True,
    )
    (settings.pgdata / "pg_hba.conf").write_text(postgres.PG_HBA)
    try:
        with pytest.raises(StackError, match=r"superuser.*kb-stack reset"):
            old.start(edge=False)
        old.reset()
        with psycopg.connect(old.db_url) as db:
            assert db.execute(
                "select rolsuper from pg_roles where rolname = 'postgres'"
            ).fetchone() == (False,)
            assert db.execute("select count(*) from public.documents").fetchone() == (0,)
    finally:
        old.stop()
        shutil.rmtree(settings.state_dir, ignore_errors=True)
