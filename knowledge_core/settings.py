"""The edge's settings: one class, from the environment (and `.env`), with Supabase's names."""

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from knowledge_core import limits

EmbeddingProvider = Literal["local", "openai", "edge-function"]


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "knowledge-base"


class EmbedderSettings(BaseSettings):
    """How the local model runs: shared by the edge and by `kb-embedder`, which needs no more."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    local_embedding_precision: Literal["int8", "float32"] = Field(
        default="float32",
        description="float32: the reference model's vectors on any CPU (cosine >= 0.9999); "
        "int8: faster, cosine >= 0.975 to the reference and about 0.998 between CPU families "
        "(docs: 'The embedder').",
    )
    embedder_url: str | None = Field(
        default=None,
        description="A shared embedder (`kb-embedder`), unix:///path.sock or tcp://host:port. "
        "Unset: the edge loads the local model in its own process.",
    )
    embedder_threads: int = Field(
        default_factory=lambda: len(os.sched_getaffinity(0)),
        ge=1,
        description="ONNX Runtime's threads; default every core this process may use.",
    )
    embedder_max_pending: int = Field(
        default=512, ge=1, description="Texts allowed to wait for the model; past it, 503."
    )
    model_cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where the ONNX model is written on first start.",
    )
    embedding_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("embedder_url")
    @classmethod
    def _check_embedder_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("unix://", "tcp://")):
            raise ValueError("EMBEDDER_URL must be unix:///path.sock or tcp://host:port")
        return url


class Settings(EmbedderSettings):
    """Read once at start-up; a missing or unsafe value stops the process with a clear message."""

    supabase_url: AnyHttpUrl = Field(description="The project URL (API_URL of the local stack).")
    supabase_anon_key: SecretStr = Field(description="The project's anon (publishable) key.")
    supabase_jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 secret (JWT_SECRET), if the project signs with one."
    )
    supabase_jwks_url: AnyHttpUrl | None = Field(
        default=None,
        description="JWKS for asymmetric keys; default SUPABASE_URL/auth/v1/.well-known/jwks.json",
    )
    supabase_jwt_audience: str = "authenticated"
    supabase_jwt_issuer: str | None = Field(
        default=None,
        description="Required `iss`; default SUPABASE_URL/auth/v1, what Supabase Auth issues.",
    )

    environment: Literal["development", "production"] = "development"
    docs_enabled: bool | None = Field(
        default=None, description="OpenAPI docs at /docs; default on except in production."
    )
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"

    embedding_provider: EmbeddingProvider = "local"
    embedding_model: str | None = Field(
        default=None,
        description="Default per provider: all-MiniLM-L6-v2, text-embedding-3-small, gte-small.",
    )
    embedding_batch_size: int = Field(default=64, ge=1, le=2048)
    embedding_cache_size: int = Field(default=1024, ge=0)
    openai_base_url: AnyHttpUrl = Field(default=AnyHttpUrl("https://api.openai.com/v1"))
    openai_api_key: SecretStr | None = None
    embed_function_url: AnyHttpUrl | None = Field(
        default=None, description="Edge Function URL; default SUPABASE_URL/functions/v1/embed"
    )

    # The worker chunks (knowledge_core.chunking.chunk_document); a passage is at most 8000
    # characters in the database (document_chunks.content).
    chunk_size: int = Field(default=1000, ge=100, le=8000, description="Characters per passage.")
    chunk_overlap: int = Field(default=150, ge=0, le=2000)
    max_document_chars: int = Field(
        default=limits.MAX_DOCUMENT_CHARS, ge=1000, le=limits.MAX_DOCUMENT_CHARS
    )
    background_threshold_chars: int = Field(
        default=50_000,
        ge=0,
        description="Writes of larger documents answer at once (202, pending) unless asked to "
        "wait; smaller ones wait until they are searchable.",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest file /v1/documents/upload takes."
    )
    extraction_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Wall time to turn one file into text."
    )
    extraction_memory_mb: int = Field(
        default=768, ge=128, description="Address space of the process that parses one file."
    )
    extraction_concurrency: int = Field(
        default=2, ge=1, le=64, description="Files parsed at once per edge process."
    )
    postgrest_timeout_seconds: float = Field(default=30.0, gt=0)
    supabase_read_url: AnyHttpUrl | None = Field(
        default=None,
        description="Where reads (GET) go, e.g. hosted Supabase's API load balancer; writes, "
        "and reads that must see a write a replica has not replayed, go to SUPABASE_URL "
        "(the primary's endpoint). Default: SUPABASE_URL for both (the local stack's gateway "
        "routes by method itself).",
    )
    search_via_get: bool = Field(
        default=False,
        description="Send searches (match_documents, hybrid_search) as GET, which Supabase's "
        "load balancer (and the local stack's gateway) may send to a read replica; off: POST, "
        "always the primary. A caller's reads after their own write wait for it either way "
        "(README, 'Read your own writes').",
    )

    # -- the MCP server (mcp/knowledge_mcp) ---------------------------------------------------
    mcp_host: str = Field(default="127.0.0.1", description="Address the MCP server binds (HTTP).")
    mcp_port: int = Field(default=8001, ge=0, le=65535, description="0 picks a free port.")
    mcp_public_url: AnyHttpUrl | None = Field(
        default=None,
        description="The MCP endpoint's public URL, its OAuth resource identifier (RFC 9728), "
        "e.g. https://kb.example.com/mcp; default http://MCP_HOST:MCP_PORT/mcp.",
    )
    mcp_authorization_server: AnyHttpUrl | None = Field(
        default=None,
        description="The OAuth authorization server named in the protected resource metadata; "
        "default the project's Supabase Auth, SUPABASE_URL/auth/v1.",
    )
    knowledge_scopes: bool = Field(
        default=False,
        description="Tokens come from an authorization server that issues this project's own "
        "scopes, knowledge:read and knowledge:write (Supabase Auth issues OIDC scopes only). The "
        "database honours them only where private.token_settings.knowledge_scopes says so too; "
        "here it adds them to the scopes the MCP server advertises. Off: agents act on their "
        "user's grants (public.agent_grants).",
    )
    kb_access_token: SecretStr | None = Field(
        default=None,
        description="stdio transport only: the user's access token (the pipe has no headers).",
    )

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("CHUNK_OVERLAP must be smaller than CHUNK_SIZE")
        secret = self.supabase_jwt_secret.get_secret_value() if self.supabase_jwt_secret else ""
        if secret and len(secret) < 32:
            raise ValueError("SUPABASE_JWT_SECRET must be at least 32 characters")
        if self.environment == "production":
            if self.supabase_url.scheme != "https":
                raise ValueError("SUPABASE_URL must use https in production")
            if "*" in self.cors_origins:
                raise ValueError("CORS_ORIGINS may not be '*' in production")
        if self.embedding_provider == "openai" and self.openai_api_key is None:
            raise ValueError("EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY")
        return self

    @cached_property
    def rest_url(self) -> str:
        return str(self.supabase_url).rstrip("/") + "/rest/v1"

    @cached_property
    def read_rest_url(self) -> str:
        if self.supabase_read_url is None:
            return self.rest_url
        return str(self.supabase_read_url).rstrip("/") + "/rest/v1"

    @cached_property
    def jwt_issuer(self) -> str:
        if self.supabase_jwt_issuer is not None:
            return self.supabase_jwt_issuer
        return str(self.supabase_url).rstrip("/") + "/auth/v1"

    @cached_property
    def jwks_url(self) -> str:
        if self.supabase_jwks_url is not None:
            return str(self.supabase_jwks_url)
        return str(self.supabase_url).rstrip("/") + "/auth/v1/.well-known/jwks.json"

    @cached_property
    def embed_url(self) -> str:
        if self.embed_function_url is not None:
            return str(self.embed_function_url)
        return str(self.supabase_url).rstrip("/") + "/functions/v1/embed"

    @cached_property
    def mcp_authorization_server_url(self) -> str:
        if self.mcp_authorization_server is not None:
            return str(self.mcp_authorization_server).rstrip("/")
        return str(self.supabase_url).rstrip("/") + "/auth/v1"

    @property
    def oauth_scopes(self) -> list[str]:
        """What an agent asks the authorization server for. Supabase Auth's OAuth server accepts
        only OIDC scopes (and refuses the authorization for any other), of which these two are
        in every version; database access is the user's grant, not a scope."""
        scopes = ["openid", "email"]
        if self.knowledge_scopes:
            scopes += ["knowledge:read", "knowledge:write"]
        return scopes

    @property
    def show_docs(self) -> bool:
        return (
            self.docs_enabled
            if self.docs_enabled is not None
            else (self.environment != "production")
        )
