"""The stack as one object: its four parts, and what `kb-stack` does with them in order.

    database   Postgres with the platform, migrations and seed; PostgREST; read replicas
    gateway    Caddy at SUPABASE_URL, Supabase's gateway contract
    services   the product's own processes: kb-embedder, the API, the MCP server, the worker
    users      users, agents' OAuth clients and grants, and their access tokens

Addresses and keys are named as `supabase status -o env` names them (status_env).
"""

from functools import cached_property

from local_stack import postgrest
from local_stack.database import Database
from local_stack.gateway import Gateway
from local_stack.processes import log
from local_stack.secrets import StackSecrets
from local_stack.services import Services
from local_stack.settings import StackSettings
from local_stack.users import User, Users


class LocalStack:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()

    @cached_property
    def secrets(self) -> StackSecrets:
        return StackSecrets.load_or_create(self.settings.state_dir)

    @cached_property
    def database(self) -> Database:
        return Database(self.settings, self.secrets)

    @cached_property
    def gateway(self) -> Gateway:
        return Gateway(self.database)

    @cached_property
    def services(self) -> Services:
        return Services(self.database)

    @cached_property
    def users(self) -> Users:
        return Users(self.db_url, self.secrets, self.auth_issuer)

    # -- addresses and keys -------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database.url

    @property
    def worker_db_url(self) -> str:
        return self.database.worker_url

    @property
    def anon_key(self) -> str:
        return self.secrets.anon_key

    @property
    def service_role_key(self) -> str:
        return self.secrets.service_role_key

    @property
    def auth_issuer(self) -> str:
        return f"{self.settings.api_url}/auth/v1"

    @property
    def embedder_url(self) -> str:
        return self.services.embedder_url

    def status_env(self) -> dict[str, str]:
        s = self.settings
        return {
            "API_URL": s.api_url,
            "REST_URL": f"{s.api_url}/rest/v1",
            "DB_URL": self.db_url,
            "JWT_SECRET": self.secrets.jwt_secret,
            "ANON_KEY": self.anon_key,
            "SERVICE_ROLE_KEY": self.service_role_key,
            # Not in `supabase status`: PostgREST without the gateway, for benchmarks and debugging.
            "POSTGREST_URL": s.rest_url,
            "JWKS_URL": f"{s.api_url}/auth/v1/.well-known/jwks.json",
            # This project's edge, started with the stack.
            "KB_API_URL": s.edge_api_url,
            # The MCP endpoint, as MCP clients are configured with it.
            "KB_MCP_URL": f"{s.edge_mcp_url}/mcp",
            # The machine's one local model (kb-embedder), which the API and MCP server share.
            "KB_EMBEDDER_URL": self.embedder_url,
            # The embedding worker's database login (least privilege; see kb-worker --help).
            "KB_WORKER_DATABASE_URL": self.worker_db_url,
        }

    def running(self) -> dict[str, bool]:
        return {
            **self.database.running(),
            "gateway": self.gateway.running(),
            **self.services.running(),
        }

    def pids(self) -> dict[str, int | None]:
        """The process id of each part that runs as one process (Postgres has many: its
        postmaster.pid names the parent)."""
        return {
            "gateway": self.gateway.daemon().pid(),
            "postgrest": postgrest.daemon(self.settings).pid(),
            **self.services.pids(),
        }

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, *, edge: bool = True, replicas: int | None = None) -> None:
        """Start every part (the edge too, unless `edge` is false); reuse what is running.

        `replicas`: how many read replicas to keep from now on (None: as many as before, 0 at
        first); replicas past that number are removed with their data.
        """
        count = self.database.replica_count() if replicas is None else replicas
        self.database.start(self.auth_issuer, count)
        log("gateway: starting")
        self.gateway.start()
        if edge:
            self.services.start()
        log(f"ready: {self.settings.api_url}")

    def stop(self) -> None:
        self.services.stop()
        self.gateway.daemon().stop()
        self.database.stop()

    def reset(self) -> None:
        """Recreate the database from the migrations and seed; other data is gone."""
        self.database.recreate(self.auth_issuer)
        self.gateway.start()

    # -- users, as tests and `kb-stack user` sign them in ---------------------------------------
    def create_user(self, email: str) -> User:
        return self.users.create(email)

    def delete_user(self, user: User) -> None:
        self.users.delete(user)

    def grant_agent(self, user: User, client_id: str, access: str) -> None:
        self.users.grant_agent(user, client_id, access)

    def access_token(
        self,
        user: User,
        *,
        expires_in: int = 3600,
        client_id: str | None = None,
        scope: str | None = None,
        algorithm: str = "HS256",
    ) -> str:
        return self.users.access_token(
            user, expires_in=expires_in, client_id=client_id, scope=scope, algorithm=algorithm
        )
