"""The MCP SDK's own cost per tool call: a server like ours whose search tool does nothing.

`python -m bench.mcp_floor --port N` serves stateless streamable HTTP with the same uvicorn
set-up as the project's MCP server, no authentication, and one tool with the search tool's name
and arguments that answers an empty result. Section 3 loads it beside the real server: the CPU it
spends per call is the floor that no change to our tools can go below.
"""

import argparse
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from knowledge_core.serving import UVICORN_OPTIONS


def create_floor_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("mcp-floor")

    @server.tool()
    async def search_knowledge_base(
        query: str, limit: int = 5, mode: str = "semantic"
    ) -> dict[str, Any]:
        """Answers an empty result at once."""
        return {"query": query, "mode": mode, "results": []}

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    server.custom_route("/health/ready", methods=["GET"])(ready)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.mcp_floor", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_floor_server().streamable_http_app(stateless_http=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", **UVICORN_OPTIONS)


if __name__ == "__main__":
    main()
