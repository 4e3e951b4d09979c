"""Verify Supabase access tokens at the edge: HS256 with the project secret, or RS256/ES256 with
keys from the project's JWKS. The edge checks early to refuse cheaply and to know whom to log and
rate-limit; PostgREST checks again and Postgres RLS is the authority.
"""

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from knowledge_core.errors import InvalidToken, Unavailable
from knowledge_core.settings import Settings

ASYMMETRIC = {"RS256": "RSA", "ES256": "EC"}
LEEWAY_SECONDS = 30
# Verified tokens remembered, each until it expires: a client sends the same token on every
# request, and checking its signature again each time was a measurable share of the edge's CPU.
VERIFIED_TOKENS_KEPT = 10_000


@dataclass(frozen=True)
class Caller:
    """A verified caller. `token` is forwarded upstream as is; never log it."""

    token: str
    claims: dict[str, Any] = field(repr=False)

    @property
    def user_id(self) -> str:
        return str(self.claims["sub"])

    @property
    def scopes(self) -> frozenset[str] | None:
        """OAuth scopes of an agent's token; None for a first-party session token."""
        scope = self.claims.get("scope")
        return None if scope is None else frozenset(str(scope).split())

    @property
    def client_id(self) -> str | None:
        value = self.claims.get("client_id")
        return None if value is None else str(value)


class TokenVerifier:
    def __init__(
        self,
        *,
        audience: str,
        secret: str | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        http: httpx.AsyncClient | None = None,
        jwks_min_refresh_seconds: float = 60.0,
    ) -> None:
        if secret is None and jwks_url is None:
            raise ValueError("a JWT secret or a JWKS URL is needed to verify tokens")
        self.audience = audience
        self.secret = secret
        self.jwks_url = jwks_url
        self.issuer = issuer
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._min_refresh = jwks_min_refresh_seconds
        self._lock = asyncio.Lock()
        # Keyed by the whole token, signature included: only the very same token is a hit.
        self._verified: OrderedDict[str, tuple[Caller, float]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient) -> "TokenVerifier":
        """The verifier every edge process uses: the project's secret and/or its JWKS."""
        secret = settings.supabase_jwt_secret
        return cls(
            audience=settings.supabase_jwt_audience,
            secret=secret.get_secret_value() if secret else None,
            jwks_url=settings.jwks_url,
            issuer=settings.jwt_issuer,
            http=http,
        )

    async def verify(self, token: str) -> Caller:
        """The caller a good token names; InvalidToken for any other."""
        kept = self._verified.get(token)
        if kept is not None:
            caller, valid_until = kept
            if time.time() < valid_until:
                return caller
            del self._verified[token]
        caller = await self._verify(token)
        # As long as jwt.decode itself would still accept it: until exp, plus the same leeway.
        self._verified[token] = (caller, float(caller.claims["exp"]) + LEEWAY_SECONDS)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return caller

    async def _verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidToken("the token is not a JWT") from error
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256":
            # Only ever the shared secret: a public key used as an HMAC secret (algorithm
            # confusion) cannot verify here.
            if self.secret is None:
                raise InvalidToken("HS256 tokens are not accepted by this project")
            key = self.secret
        elif algorithm in ASYMMETRIC:
            key = await self._public_key(header.get("kid"), algorithm)
        else:
            raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "aud", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("the token has expired") from error
        except jwt.PyJWTError as error:
            raise InvalidToken(f"the token is not valid: {error}") from error
        if claims.get("role") != "authenticated":
            # anon and service_role keys are not a user: the edge serves signed-in users only.
            raise InvalidToken("the token is not a signed-in user's access token")
        return Caller(token=token, claims=claims)

    async def _public_key(self, kid: object, algorithm: str) -> jwt.PyJWK:
        if self.jwks_url is None:
            raise InvalidToken(f"{algorithm} tokens are not accepted by this project")
        if not isinstance(kid, str):
            raise InvalidToken("the token names no signing key (kid)")
        if kid not in self._keys:
            await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise InvalidToken("the token was signed by an unknown key")
        if found.key_type != ASYMMETRIC[algorithm] or found.algorithm_name != algorithm:
            raise InvalidToken("the token's algorithm does not match its signing key")
        return found

    async def _refresh(self) -> None:
        async with self._lock:
            # Unknown kids are common in attacks; refetch at most once per interval.
            if time.monotonic() - self._fetched_at < self._min_refresh:
                return
            self._fetched_at = time.monotonic()
            assert self.jwks_url is not None
            client = self._http or httpx.AsyncClient(timeout=5.0)
            try:
                response = await client.get(self.jwks_url)
                response.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(response.json()).keys
            except (httpx.HTTPError, jwt.PyJWTError, ValueError) as error:
                if not self._keys:
                    raise Unavailable(
                        "the project's signing keys could not be fetched", service="auth"
                    ) from error
                return
            finally:
                if self._http is None:
                    await client.aclose()
            self._keys = {k.key_id: k for k in keys if k.key_id and k.public_key_use != "enc"}
