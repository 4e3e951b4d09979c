"""`kb-mcp` / `python -m knowledge_mcp`: serve the knowledge base over MCP (HTTP or stdio)."""

import argparse
import socket
import sys

import anyio
import uvicorn
from pydantic import ValidationError

from knowledge_core.errors import KnowledgeBaseError
from knowledge_core.logs import configure_logging
from knowledge_core.serving import UVICORN_OPTIONS
from knowledge_core.settings import Settings
from knowledge_mcp.server import create_server, http_app, mcp_url, public_url

DESCRIPTION = """\
Serve the Supabase knowledge base to AI agents over the Model Context Protocol. Every tool call
runs with the caller's own Supabase access token, so Postgres Row Level Security decides what
the agent may read and write.

Transports:
  http   streamable HTTP at /mcp, stateless (any number of replicas behind a load balancer).
         An OAuth 2.1 resource server: send 'Authorization: Bearer <Supabase access token>',
         an agent's token from Supabase Auth's OAuth server (it reads after its user granted
         it read, writes after write: the consent page) or a user's own session token. Without
         one the answer is 401, pointing at /.well-known/oauth-protected-resource/mcp.
  stdio  for desktop hosts (Claude Desktop) that launch the server themselves. The pipe has no
         headers: the access token comes from KB_ACCESS_TOKEN and is verified at start-up.

Settings come from the environment or a .env file: SUPABASE_URL, SUPABASE_ANON_KEY,
SUPABASE_JWT_SECRET (or keys from the project's JWKS), EMBEDDING_PROVIDER, MCP_HOST, MCP_PORT,
MCP_PUBLIC_URL (the URL clients use; required behind a proxy), KB_ACCESS_TOKEN (stdio).
"""

EXAMPLES = """\
examples:
  eval "$(kb-stack status -o env)"
  SUPABASE_URL=$API_URL SUPABASE_ANON_KEY=$ANON_KEY SUPABASE_JWT_SECRET=$JWT_SECRET \\
    kb-mcp --port 8001                    serve http://127.0.0.1:8001/mcp
  KB_ACCESS_TOKEN=$(kb-stack user alice@example.com \\
      --client-id 6f1c0a52-2d3e-4b7a-9a55-0c6f2f1e8a10 --grant write) \\
    kb-mcp --transport stdio              what a desktop host runs (an agent alice let write)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kb-mcp",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--transport",
        choices=["http", "stdio"],
        default="http",
        help="http: streamable HTTP, stateless (default); stdio: for desktop hosts",
    )
    parser.add_argument("--host", help="address to bind (http); default MCP_HOST or 127.0.0.1")
    parser.add_argument(
        "--port", type=int, help="port to bind (http); default MCP_PORT or 8001; 0 picks a free one"
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-For/-Proto headers are trusted (http)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as error:
        print(f"kb-mcp: invalid settings:\n{error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, sys.stderr)
    if args.transport == "stdio":
        return _serve_stdio(settings)
    overrides = {
        key: value
        for key, value in (("mcp_host", args.host), ("mcp_port", args.port))
        if value is not None
    }
    return _serve_http(settings.model_copy(update=overrides), args.forwarded_allow_ips)


def _serve_stdio(settings: Settings) -> int:
    if settings.kb_access_token is None:
        print(
            "kb-mcp: set KB_ACCESS_TOKEN to the user's access token for the stdio transport",
            file=sys.stderr,
        )
        return 2
    try:
        server = create_server(settings, access_token=settings.kb_access_token.get_secret_value())
    except ValueError as error:
        print(f"kb-mcp: {error}", file=sys.stderr)
        return 2
    refused: list[str] = []
    try:
        anyio.run(server.run_stdio_async)
    except* KnowledgeBaseError as group:
        # Raised by the lifespan at start-up: the token is bad, or its keys are unreachable.
        refused = [getattr(error, "message", str(error)) for error in group.exceptions]
    if refused:
        print(f"kb-mcp: cannot start: {refused[0]}", file=sys.stderr)
        return 1
    return 0


def _serve_http(settings: Settings, forwarded_allow_ips: str) -> int:
    """Bind first, so port 0 works and the printed URL names the port really taken."""
    family = socket.AF_INET6 if ":" in settings.mcp_host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.mcp_host, settings.mcp_port))
    except OSError as error:
        print(
            f"kb-mcp: cannot listen on {settings.mcp_host}:{settings.mcp_port}: {error.strerror}",
            file=sys.stderr,
        )
        return 1
    settings = settings.model_copy(update={"mcp_port": sock.getsockname()[1]})
    try:
        server = create_server(settings)
    except ValueError as error:
        sock.close()
        print(f"kb-mcp: {error}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        http_app(server, settings),
        forwarded_allow_ips=forwarded_allow_ips,
        lifespan="on",
        **UVICORN_OPTIONS,
    )
    _AnnouncingServer(config, mcp_url(settings), public_url(settings)).run(sockets=[sock])
    return 0


class _AnnouncingServer(uvicorn.Server):
    """Says where it serves once it is ready (model loaded), so scripts and tests can wait."""

    def __init__(self, config: uvicorn.Config, url: str, public: str) -> None:
        super().__init__(config)
        self.url = url
        self.public = public

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(f"kb-mcp: serving MCP at {self.url} (resource {self.public})", file=sys.stderr)
            sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
