"""The shared core of the edge (API and MCP server): settings, token checks, embeddings, chunking,
and a PostgREST client bound to the caller's own JWT. Nothing here decides who may see what:
every read and write is forwarded with the caller's token and Postgres RLS decides.
"""
