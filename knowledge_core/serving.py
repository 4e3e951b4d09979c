"""How the edge's ASGI servers run: the same uvicorn set-up for the API and the MCP server.

uvloop and httptools replace asyncio's default loop and uvicorn's pure-Python HTTP parser: on
the request path they cost a fraction of the CPU per request (docs/benchmarks.md, "The edge's
cost").
"""

from typing import Any

UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "proxy_headers": True,
    "log_config": None,
    "access_log": False,
    # Longer than client pools keep idle connections, as behind a load balancer: a client never
    # sends on a connection the server is closing at that moment.
    "timeout_keep_alive": 75,
}
