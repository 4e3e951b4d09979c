"""`kb-stack`: run the embedded local Supabase stack (Postgres + pgvector, PostgREST, gateway)."""

import argparse
import json
import shlex
import sys

from local_stack import schema
from local_stack.processes import StackError
from local_stack.stack import LocalStack

DESCRIPTION = """\
The embedded local Supabase stack: Postgres 18 + pgvector, PostgREST 12, an API gateway (Caddy,
keeping Supabase's contract) at SUPABASE_URL/rest/v1, and this project's API and MCP server,
which share one local embedding model (kb-embedder, on a unix socket in the state directory),
and the embedding worker (kb-worker, logged in as the role kb_embedding_worker: it embeds
documents any door writes), started from packages, no Docker. Data lives in KB_STACK_STATE_DIR
(default: .stack/ in the repository) and survives restarts.

Read replicas (`start --replicas N`): N streaming standbys of the Postgres, each with its own
PostgREST; the gateway sends GET and HEAD under /rest/v1 to a healthy replica (round robin; a
stopped one leaves rotation and returns when it answers again; none healthy: the primary) and
everything else to the primary, as Supabase's API load balancer does. A read carrying
`X-Kb-Read-From: primary` goes to the primary. The stack remembers N: a later `start` keeps
them, `--replicas 0` removes them. Default: none, one Postgres.

Ports (environment): KB_STACK_API_PORT=54321, KB_STACK_DB_PORT=54322, KB_STACK_REST_PORT=54323,
KB_STACK_REST_ADMIN_PORT=54324, KB_STACK_EDGE_API_PORT=54330, KB_STACK_EDGE_MCP_PORT=54331.
Replica i takes KB_STACK_REPLICA_FIRST_PORT + 3*(i-1) (Postgres), +1 (PostgREST) and +2
(its health port); KB_STACK_REPLICA_FIRST_PORT defaults to KB_STACK_API_PORT + 20 (54341).
KB_STACK_REPLICA_APPLY_DELAY_MS delays the replicas' replay (to watch read-your-writes work).
"""

EXAMPLES = """\
examples:
  kb-stack start                         start everything (creates and migrates on first run)
  kb-stack start --replicas 2            ... with two read replicas serving GET requests
  kb-stack status                        what runs, each replica's replay lag, URLs and keys
  eval "$(kb-stack status -o env)"       export API_URL, ANON_KEY, DB_URL, ... into the shell
  kb-stack user alice@example.com        create the user if needed and print an access token
  kb-stack user alice@example.com --client-id 6f1c0a52-2d3e-4b7a-9a55-0c6f2f1e8a10 --grant read
                                         a token of that OAuth client (an agent), shaped as
                                         Supabase Auth issues it, after alice let it read
  kb-stack advisors                      Supabase's security and performance lints
  kb-stack db diff add_language_column   supabase/schemas/ changed: write the migration for it
  kb-stack db drift                      do the migrations build what supabase/schemas/ states?
  kb-stack reset                         recreate the database from migrations and seed.sql
  kb-stack stop
"""


def _print_status(stack: LocalStack, output: str) -> None:
    env = stack.status_env()
    if output == "env":
        for key, value in env.items():
            print(f"{key}={shlex.quote(value)}")
    elif output == "json":
        print(
            json.dumps(
                {**env, "running": stack.running(), "replicas": stack.replica_status()}, indent=2
            )
        )
    else:
        width = max(map(len, env))
        for name, up in stack.running().items():
            print(f"{name:>{width}}: {'running' if up else 'stopped'}")
        for replica in stack.replica_status():
            print(f"{replica['name']:>{width}}: {_describe_replica(replica)}")
        for key, value in env.items():
            print(f"{key:>{width}}: {value}")


def _describe_replica(replica: dict[str, object]) -> str:
    if not replica["postgres"]:
        return f"stopped (Postgres port {replica['db_port']})"
    rest = "PostgREST ready" if replica["postgrest"] else "PostgREST not ready"
    lag = replica.get("replay_lag_bytes")
    if lag is None:
        return f"running, {replica['state']}, {rest}"
    ms = replica.get("replay_lag_ms")
    return (
        f"running, {replica['state']}, replay lag {lag} bytes"
        + (f" / {ms} ms" if ms is not None else "")
        + f", {rest} on port {replica['rest_port']}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kb-stack",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser("start", help="start the stack (idempotent), then print its status")
    start.add_argument(
        "--replicas",
        type=int,
        metavar="N",
        help="keep N (0 to 8) read replicas (streaming standbys, each with its own PostgREST) "
        "that serve GET requests; 0 removes them; default: as many as the last start (none at "
        "first)",
    )
    commands.add_parser("stop", help="stop every part of the stack; data is kept")
    status = commands.add_parser("status", help="print URLs, keys and what is running")
    status.add_argument(
        "-o",
        "--output",
        choices=["pretty", "env", "json"],
        default="pretty",
        help="env: the variable names `supabase status -o env` prints",
    )
    commands.add_parser("reset", help="recreate the database: platform, migrations, seed.sql")
    user = commands.add_parser(
        "user", help="create a user (if new) and print an access token for them"
    )
    user.add_argument("email")
    user.add_argument("--expires-in", type=int, default=3600, metavar="SECONDS")
    user.add_argument(
        "--client-id",
        metavar="UUID",
        help="an agent's token: a session of this OAuth client (registered if new), with "
        "`client_id` and `scope` claims as Supabase Auth's OAuth server issues them",
    )
    user.add_argument(
        "--grant",
        choices=["read", "write", "none"],
        help="with --client-id: first record the user's grant of this client (what the consent "
        "page does; none: revoke it). Without a grant an agent gets nothing",
    )
    user.add_argument(
        "--scope",
        help="with --client-id: the `scope` claim (default 'openid email'; Supabase Auth issues "
        "OIDC scopes only). knowledge:read / knowledge:write mean something only to a project "
        "whose tokens come from an authorization server that issues them "
        "(private.token_settings.knowledge_scopes)",
    )
    user.add_argument("--json", action="store_true", help="print id, email and token as JSON")
    user.add_argument(
        "--alg",
        choices=["HS256", "ES256"],
        default="HS256",
        help="HS256: the project secret; ES256: the asymmetric key published as JWKS",
    )
    advisors = commands.add_parser(
        "advisors", help="run `supabase db advisors --type all` against the stack"
    )
    advisors.add_argument("--fail-on", choices=["none", "info", "warn", "error"], default="warn")
    db = commands.add_parser(
        "db",
        help="supabase/schemas/ and the migrations, compared on scratch databases (no Docker)",
        description="Both commands build two scratch databases on the stack's Postgres, one "
        "from supabase/migrations/ and one from supabase/schemas/, and drop them after. The "
        "workflow: edit a schema file, `db diff NAME`, review the migration, commit both "
        "(docs/database.md).",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    diff = db_commands.add_parser(
        "diff",
        help="write what the schemas have and the migrations lack as a new migration "
        "(the Supabase CLI's differ, pg-delta), then check that it closes the gap",
    )
    diff.add_argument("name", help="the migration's name, e.g. add_language_column")
    db_commands.add_parser("drift", help="print where the two catalogs differ; exit 1 if they do")
    return parser


def _db(stack: LocalStack, args: argparse.Namespace) -> int:
    if args.db_command == "drift":
        difference = schema.drift(stack).difference
        print("\n".join(difference) if difference else "no drift: the migrations build the schemas")
        return 1 if difference else 0
    written = schema.write_migration(stack, args.name)
    if written.path is None:
        print("no difference: the migrations already build what supabase/schemas/ states")
        return 0
    print(f"wrote {written.path}")
    if written.unexpressed:
        print(
            "not expressed by the differ (write these by hand in the migration, then run "
            "`kb-stack db drift`):\n" + "\n".join(written.unexpressed)
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stack = LocalStack()
    try:
        if args.command == "start":
            stack.start(replicas=args.replicas)
            _print_status(stack, "pretty")
        elif args.command == "stop":
            stack.stop()
            print("stopped")
        elif args.command == "status":
            _print_status(stack, args.output)
        elif args.command == "reset":
            stack.reset()
            print("database recreated from supabase/migrations and supabase/seed.sql")
        elif args.command == "user":
            if (args.grant or args.scope) and not args.client_id:
                raise StackError("--grant and --scope are for an agent's token: add --client-id")
            account = stack.create_user(args.email)
            if args.grant:
                stack.grant_agent(account, args.client_id, args.grant)
            token = stack.access_token(
                account,
                expires_in=args.expires_in,
                scope=args.scope,
                client_id=args.client_id,
                algorithm=args.alg,
            )
            if args.json:
                print(json.dumps({"id": account.id, "email": account.email, "access_token": token}))
            else:
                print(token)
        elif args.command == "advisors":
            result = stack.supabase_cli(
                "db", "advisors", "--type", "all", "--fail-on", args.fail_on, check=False
            )
            print(result.stdout, end="")
            print(result.stderr, end="", file=sys.stderr)
            return result.returncode
        elif args.command == "db":
            stack.start(edge=False)
            return _db(stack, args)
    except StackError as error:
        print(f"kb-stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
