"""Bearer tokens over HTTP: the SDK's resource-server machinery, knowledge_core's token check.

The SDK answers 401 with `WWW-Authenticate` pointing at the protected resource metadata and
serves that metadata (RFC 9728); it asks a `TokenVerifier` whether a token is good. That
verifier is this module: it delegates to `knowledge_core.tokens`, the same check the API makes
(signature with the project secret or its JWKS, expiry, audience, role).
"""

import logging
import time
from collections import OrderedDict

from mcp.server.auth.provider import AccessToken

from knowledge_core.errors import InvalidToken, Unavailable
from knowledge_core.rest import RestPool
from knowledge_core.tokens import Caller, TokenVerifier

SESSION_CLIENT = "first-party-session"

security_log = logging.getLogger("knowledge_mcp.security")


def access_token(caller: Caller) -> AccessToken:
    """The SDK's view of a verified caller; `claims` carries everything to rebuild the Caller.

    `scopes` are the token's own (OIDC scopes from Supabase Auth: "openid email"). The server
    requires none: what an agent may read or write is its user's grant, which the database
    decides on every call (private.token_allows), not a scope the SDK could check here.
    """
    expires = caller.claims.get("exp")
    return AccessToken(
        token=caller.token,
        client_id=caller.client_id or SESSION_CLIENT,
        scopes=sorted(caller.scopes or ()),
        expires_at=int(expires) if isinstance(expires, int | float) else None,
        subject=caller.user_id,
        claims=dict(caller.claims),
    )


def caller_of(token: AccessToken) -> Caller:
    """Back from the SDK's AccessToken to the Caller whose JWT goes to PostgREST unchanged."""
    return Caller(token=token.token, claims=dict(token.claims or {}))


class SupabaseTokenVerifier:
    """The SDK's `TokenVerifier` protocol over knowledge_core's verifier.

    The SDK needs this object when the server is built, but the verifier it wraps (and its JWKS
    HTTP client) belongs to the lifespan, which attaches it at start-up and detaches it at shutdown.
    """

    # How long a token whose session the database confirmed stays confirmed: a signed-out
    # session stops working within this, without a database round trip on every message.
    SESSION_CHECK_SECONDS = 5.0

    def __init__(self) -> None:
        self._verifier: TokenVerifier | None = None
        self._rest: RestPool | None = None
        self._confirmed: OrderedDict[str, float] = OrderedDict()

    def attach(self, verifier: TokenVerifier, rest: RestPool | None = None) -> None:
        self._verifier = verifier
        self._rest = rest

    def detach(self) -> None:
        self._verifier = None
        self._rest = None
        self._confirmed.clear()

    async def _session_is_live(self, caller: Caller) -> None:
        """Ask the database (the authority) whether the token's session still exists.

        A cheap read runs PostgREST's pre-request hook, which refuses signed-out sessions and
        tokens for another audience or issuer with 401 (InvalidToken here).
        """
        if self._rest is None:
            return
        now = time.monotonic()
        if self._confirmed.get(caller.token, 0.0) > now:
            return
        await self._rest.bind(caller).select("workspaces", {"select": "id", "limit": "0"})
        self._confirmed[caller.token] = now + self.SESSION_CHECK_SECONDS
        self._confirmed.move_to_end(caller.token)
        while len(self._confirmed) > 10_000:
            self._confirmed.popitem(last=False)

    async def verify_token(self, token: str) -> AccessToken | None:
        """An AccessToken for a good token, None for a bad one (the SDK answers 401).

        A JWKS that cannot be fetched is not the caller's fault: Unavailable propagates and the
        HTTP app answers 503, so a client keeps its token and retries instead of re-authorizing.
        """
        if self._verifier is None:
            raise Unavailable("the server is not accepting requests yet", service="auth")
        try:
            caller = await self._verifier.verify(token)
            await self._session_is_live(caller)
        except InvalidToken as error:
            # A security event: why, never the token itself.
            security_log.warning(
                "authentication refused", extra={"event": "auth_failure", "reason": error.message}
            )
            return None
        return access_token(caller)
