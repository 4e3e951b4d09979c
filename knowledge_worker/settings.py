"""The worker's own settings (`KB_WORKER_*`); the embedder and chunking come from the edge's."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    """Read once at start-up. The database URL names the kb_embedding_worker role: never the
    service-role key, never a superuser (the role may only claim queued work and write its
    passages; see supabase/schemas/85_embedding_queue.sql)."""

    model_config = SettingsConfigDict(
        env_prefix="KB_WORKER_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: SecretStr = Field(
        description="postgresql://kb_embedding_worker:<password>@<host>:<port>/postgres"
    )
    name: str | None = Field(
        default=None, description="Recorded on each claim; default <hostname>:<pid>."
    )
    max_documents: int = Field(
        default=16,
        ge=1,
        le=100,
        description="Documents claimed at a time (one claim; embedded together).",
    )
    lease_seconds: int = Field(
        default=300,
        ge=5,
        le=3600,
        description="How long a claim holds; a crashed worker's claim is retaken after it.",
    )
    poll_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Polling fallback: look for work this often even without a notification.",
    )
    reconnect_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Pause before reconnecting after a lost connection."
    )
