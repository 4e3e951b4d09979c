"""Where the stack keeps its state and which ports it listens on."""

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class StackSettings(BaseSettings):
    """Stack settings, from `KB_STACK_*` environment variables.

    The defaults mirror `supabase start` (API on 54321, database on 54322), so a client configured
    for the Docker stack finds this one at the same addresses.
    """

    model_config = SettingsConfigDict(env_prefix="KB_STACK_", extra="ignore")

    state_dir: Path = Field(
        default=REPO_ROOT / ".stack",
        description="Data directory, logs, pid files and generated secrets.",
    )
    host: str = Field(default="127.0.0.1", description="Loopback address every service binds.")
    api_port: int = Field(default=54321, ge=1, le=65535, description="Gateway: SUPABASE_URL.")
    db_port: int = Field(default=54322, ge=1, le=65535, description="Postgres.")
    rest_port: int = Field(default=54323, ge=1, le=65535, description="PostgREST, direct.")
    rest_admin_port: int = Field(default=54324, ge=1, le=65535, description="PostgREST health.")
    edge_api_port: int = Field(default=54330, ge=1, le=65535, description="This project's API.")
    edge_mcp_port: int = Field(
        default=54331, ge=1, le=65535, description="This project's MCP server (HTTP)."
    )
    shared_buffers: str = Field(
        default="1GB",
        pattern=r"^[1-9][0-9]*(kB|MB|GB)$",
        description=(
            "Postgres' buffer cache (applied at every start). HNSW walks stay fast while the "
            "graph fits: a halfvec graph is ~1.1 GB per million 384-d rows (docs/benchmarks.md, "
            "tenant sweep)."
        ),
    )
    supabase_dir: Path = Field(
        default=REPO_ROOT / "supabase",
        description="Folder holding migrations/ and seed.sql.",
    )
    replica_first_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Read replicas (kb-stack start --replicas N): replica i listens on this "
        "port + 3*(i-1) (Postgres), +1 (PostgREST), +2 (PostgREST health); default API port + 20.",
    )
    replica_apply_delay_ms: int = Field(
        default=0,
        ge=0,
        description="Replicas apply each commit this long after the primary made it "
        "(recovery_min_apply_delay): makes replay lag visible, for tests and demonstrations.",
    )
    system_user: str = Field(
        default="kbstack",
        description="Unprivileged OS user that runs Postgres when the stack is started as root.",
    )

    @property
    def replica_base_port(self) -> int:
        return self.replica_first_port or self.api_port + 20

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def edge_api_url(self) -> str:
        return f"http://{self.host}:{self.edge_api_port}"

    @property
    def edge_mcp_url(self) -> str:
        return f"http://{self.host}:{self.edge_mcp_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}"


def port_offset() -> int:
    """Added to the ports of the stacks that tests and the benchmark start themselves beside the
    main one (KB_TEST_PORT_OFFSET, default 0)."""
    return int(os.environ.get("KB_TEST_PORT_OFFSET", "0"))


def second_stack_settings(name: str, first_port: int) -> StackSettings:
    """Settings for a stack of a test's (or a benchmark section's) own, beside the main one,
    removed by its user after.

    The state lives inside the repository (not /tmp/pytest-of-root, which is private to root):
    when tests run as root, Postgres runs as an unprivileged user that must reach it. Ports sit
    below Linux's ephemeral range (32768-60999), where a client socket's own port left in
    TIME-WAIT under load could otherwise hold the port a restarted server wants.
    KB_TEST_PORT_OFFSET moves every test's own ports, so two checkouts can test at once.
    """
    first_port += port_offset()
    return StackSettings(
        state_dir=REPO_ROOT / ".stack" / name,
        api_port=first_port,
        db_port=first_port + 1,
        rest_port=first_port + 2,
        rest_admin_port=first_port + 3,
        edge_api_port=first_port + 9,
        edge_mcp_port=first_port + 10,
    )
