"""Tokens at the API: HS256 and JWKS-signed (ES256) work; every bad kind is refused with 401."""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from local_stack.stack import LocalStack
from local_stack.users import User
from tests.api.conftest import bearer
from tests.support import make_user, rest_client


@pytest.fixture(scope="module")
def user(stack: LocalStack) -> Iterator[User]:
    person = make_user(stack, "auth")
    yield person
    stack.delete_user(person)


def claims_of(token: str) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def resign(stack: LocalStack, user: User, change: Callable[[dict[str, object]], object]) -> str:
    claims = claims_of(stack.access_token(user))
    change(claims)
    return jwt.encode(claims, stack.secrets.jwt_secret, "HS256")


def unsigned(stack: LocalStack, user: User) -> str:
    def b64(part: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(stack.access_token(user)))}."


def public_key_as_hmac_secret(stack: LocalStack, user: User) -> str:
    """The classic algorithm-confusion attack: HS256 keyed with the published public key."""
    private = serialization.load_pem_private_key(stack.secrets.signing_key_pem.encode(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": stack.secrets.signing_key_id}
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode()
        for p in (header, claims_of(stack.access_token(user)))
    )
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def foreign_es256(stack: LocalStack, user: User) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(
        claims_of(stack.access_token(user)),
        key,
        "ES256",
        headers={"kid": stack.secrets.signing_key_id},
    )


BAD_TOKENS: dict[str, Callable[[LocalStack, User], str]] = {
    "expired": lambda s, u: s.access_token(u, expires_in=-3600),
    "forged": lambda s, u: jwt.encode(claims_of(s.access_token(u)), "x" * 64, "HS256"),
    "wrong audience": lambda s, u: resign(s, u, lambda c: c.update(aud="someone-else")),
    "missing audience": lambda s, u: resign(s, u, lambda c: c.pop("aud")),
    "alg none": unsigned,
    "HS256 keyed with the public key": public_key_as_hmac_secret,
    "ES256 by a key not in the JWKS": foreign_es256,
    "unknown kid": lambda s, u: jwt.encode(
        claims_of(s.access_token(u)),
        s.secrets.signing_key_pem,
        "ES256",
        headers={"kid": "not-a-published-key"},
    ),
    "wrong issuer": lambda s, u: resign(
        s, u, lambda c: c.update(iss="https://evil.example/auth/v1")
    ),
    "anon key": lambda s, u: s.anon_key,
    "service_role key": lambda s, u: s.service_role_key,
    "not a JWT": lambda s, u: "definitely-not-a-token",
}


@pytest.mark.parametrize("algorithm", ["HS256", "ES256"])
def test_hs256_and_jwks_signed_tokens_work(
    api: TestClient, stack: LocalStack, user: User, algorithm: str
) -> None:
    token = stack.access_token(user, algorithm=algorithm)
    response = api.get("/v1/documents", headers=bearer(token))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_bad_tokens_are_refused(api: TestClient, stack: LocalStack, user: User, kind: str) -> None:
    token = BAD_TOKENS[kind](stack, user)
    response = api.post("/v1/search", headers=bearer(token), json={"query": "anything"})
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="knowledge-base"')
    assert response.json()["error"]["code"] == "invalid_token"
    assert token not in response.text


@pytest.mark.parametrize("kind", ["missing audience", "wrong audience", "wrong issuer"])
def test_audience_and_issuer_are_checked_by_the_database_too(
    stack: LocalStack, user: User, kind: str
) -> None:
    """PostgREST checks neither; the pre-request hook does, so a direct caller is refused too."""
    token = BAD_TOKENS[kind](stack, user)
    with rest_client(stack, token) as http:
        response = http.get("/documents")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_no_token_is_refused(api: TestClient) -> None:
    response = api.get("/v1/documents")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers


def test_jwks_is_fetched_once_and_cached(api: TestClient, stack: LocalStack, user: User) -> None:
    verifier = api.app.state.verifier  # type: ignore[attr-defined]
    token = stack.access_token(user, algorithm="ES256")
    assert api.get("/v1/documents", headers=bearer(token)).status_code == 200
    fetched = verifier._fetched_at
    time.sleep(0.01)
    assert api.get("/v1/documents", headers=bearer(token)).status_code == 200
    assert verifier._fetched_at == fetched
    assert httpx.get(verifier.jwks_url).json()["keys"][0]["kid"] == stack.secrets.signing_key_id


def test_a_revoked_session_is_refused_on_every_door(
    api: TestClient, stack: LocalStack, user: User, db: psycopg.Connection
) -> None:
    """Signing out deletes the session row; its still-unexpired token must stop working."""
    token = stack.access_token(user)
    assert api.get("/v1/documents", headers=bearer(token)).status_code == 200
    db.execute("delete from auth.sessions where id = %s", (claims_of(token)["session_id"],))
    with rest_client(stack, token) as http:
        direct = http.get("/documents")
    assert direct.status_code == 401
    assert direct.json()["code"] == "session_revoked"
    assert 'error="invalid_token"' in direct.headers["WWW-Authenticate"]
    response = api.get("/v1/documents", headers=bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert "WWW-Authenticate" in response.headers
