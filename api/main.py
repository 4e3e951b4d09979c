"""The FastAPI app: one factory, one lifespan that owns the connection pool and the embedder."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_error_handlers
from api.middleware import Metrics, RequestContext
from api.routes import agent_grants, consent, documents, health, search, uploads, workspaces
from knowledge_core.embeddings import create_embedder
from knowledge_core.knowledge import Knowledge
from knowledge_core.logs import configure_logging
from knowledge_core.rest import RestPool
from knowledge_core.settings import Settings
from knowledge_core.tokens import TokenVerifier

DESCRIPTION = """\
A secure knowledge base on Supabase. Send text or files; the API stores them with **your own**
access token through the project's PostgREST, so Postgres Row Level Security decides what you
may read and write, and the database's embedding worker makes them searchable (writes wait for
that, briefly). Authenticate with `Authorization: Bearer <Supabase access token>`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()  # type: ignore[call-arg]  # values come from the env
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        auth_http = httpx.AsyncClient(timeout=5.0)
        embedder = create_embedder(settings)
        app.state.knowledge = Knowledge(settings, RestPool(settings), embedder)
        app.state.verifier = TokenVerifier.from_settings(settings, auth_http)
        load = getattr(embedder, "load", None)
        if load is not None:
            await load()  # the local model: pay its load time at start, not on a user's request
        try:
            yield
        finally:
            # Nothing to finish: a write is stored before it is answered, and the embedding
            # worker, not this process, embeds it.
            await app.state.knowledge.aclose()
            await auth_http.aclose()

    app = FastAPI(
        title="Supabase knowledge base API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if settings.show_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.show_docs else None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    for router in (
        documents.router,
        uploads.router,
        search.router,
        workspaces.router,
        agent_grants.router,
        consent.router,
        health.router,
    ):
        app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id", "Location", "Retry-After"],
        )
    app.add_middleware(
        RequestContext,
        metrics=app.state.metrics,
        # Room for the largest document as JSON (escaped text can grow) plus its fields; an
        # upload, for the largest file plus its form fields.
        max_body_bytes=settings.max_document_chars * 4 + 65_536,
        body_limits={r"/v1/documents/(upload|[^/]+/file)": settings.max_upload_bytes + 65_536},
    )
    return app
