"""The HTTP edge: FastAPI routes that embed text and forward the caller's JWT to PostgREST."""
