"""The knowledge base as an MCP server: tools and a resource template for agents.

The import package is `knowledge_mcp` (it lives in `mcp/knowledge_mcp`): a package named `mcp`
would shadow the MCP SDK. Like the API, the server is a thin edge over `knowledge_core`: it embeds
text and forwards the caller's own token to PostgREST, where Row Level Security decides.
"""

from knowledge_mcp.server import create_server, http_app

__all__ = ["create_server", "http_app"]
