"""The HTTP edge: FastAPI routes that store text and files, and search (embedding only the query),
with the caller's JWT forwarded to PostgREST; and `kb`, the CLI over it."""
