"""People of the stack's Supabase Auth: users, the OAuth clients (agents) they grant, and the
access tokens Supabase Auth would issue them.

Supabase Auth (GoTrue) is not obtainable here, so the rows it writes are written as it writes
them (auth.users, auth.identities, auth.sessions, auth.oauth_clients) and tokens are signed with
the project's keys, with exactly the claims it puts in them.
"""

import uuid
from dataclasses import dataclass

import psycopg

from local_stack.processes import StackError
from local_stack.secrets import StackSecrets
from local_stack.tokens import user_access_token

# What Supabase Auth's OAuth server grants when a client asks for no scope is "email"; MCP clients
# and supabase-js examples ask for these two.
OAUTH_DEFAULT_SCOPE = "openid email"


@dataclass(frozen=True)
class User:
    id: str
    email: str


class Users:
    """Writes people into the database at `db_url`; signs their tokens for `issuer`."""

    def __init__(self, db_url: str, secrets: StackSecrets, issuer: str) -> None:
        self.db_url = db_url
        self.secrets = secrets
        self.issuer = issuer

    def create(self, email: str) -> User:
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

    def delete(self, user: User) -> None:
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
            issuer=self.issuer,
            session_id=session_id,
            expires_in=expires_in,
            scope=scope,
            client_id=client_id,
        )


def oauth_client_id(value: str) -> str:
    """An OAuth client id as Supabase Auth makes them (oauth_clients.id, a UUID), normalised."""
    try:
        return str(uuid.UUID(value))
    except ValueError as error:
        raise StackError(
            f"an OAuth client_id is a UUID (Supabase Auth's oauth_clients.id), not {value!r}"
        ) from error
