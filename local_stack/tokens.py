"""JWTs with the claims Supabase Auth issues, signed with the stack's secret.

Supabase Auth (GoTrue) cannot run here, so the stack mints its tokens itself. The claim set is the
one GoTrue puts in an access token, so RLS policies and the edge see exactly what production sends.
"""

import time
import uuid
from typing import Any

import jwt

# API keys are long-lived and must come out the same on every call (the gateway compares them
# byte for byte), so their timestamps are fixed rather than "now".
API_KEY_ISSUED_AT = 1_764_115_200  # 2025-11-26
API_KEY_EXPIRES_AT = API_KEY_ISSUED_AT + 20 * 365 * 24 * 3600


def api_key(secret: str, role: str, issuer: str = "supabase-demo") -> str:
    """An anon or service_role API key, shaped like the ones `supabase status` prints."""
    claims = {"iss": issuer, "role": role, "iat": API_KEY_ISSUED_AT, "exp": API_KEY_EXPIRES_AT}
    return jwt.encode(claims, secret, "HS256")


def user_access_token(
    secret: str,
    *,
    algorithm: str = "HS256",
    key_id: str | None = None,
    user_id: str,
    email: str,
    issuer: str,
    session_id: str | None = None,
    expires_in: int = 3600,
    scope: str | None = None,
    client_id: str | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """An access token for a signed-in user, as GoTrue would issue it.

    `secret` is the HS256 secret, or for ES256 the PEM private key (with `key_id` for the header).

    `scope` and `client_id` are what Supabase Auth's OAuth server adds for third-party clients
    (agents); first-party session tokens carry neither.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user_id,
        "aud": "authenticated",
        "exp": now + expires_in,
        "iat": now,
        "email": email,
        "phone": "",
        "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": {"email": email, "email_verified": True},
        "role": "authenticated",
        "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": session_id or str(uuid.uuid4()),
        "is_anonymous": False,
    }
    if scope is not None:
        claims["scope"] = scope
    if client_id is not None:
        claims["client_id"] = client_id
    claims.update(extra_claims or {})
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, secret, algorithm, headers=headers)
