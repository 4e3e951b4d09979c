"""The edge's memory of verified tokens: only the very same token, only while it is valid."""

import asyncio
import time
import uuid

import jwt
import pytest

from knowledge_core import tokens
from knowledge_core.errors import InvalidToken
from knowledge_core.tokens import LEEWAY_SECONDS, Caller, TokenVerifier

SECRET = "a-test-secret-that-is-long-enough-for-hs256!"


def _token(expires_at: float, secret: str = SECRET) -> str:
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": int(time.time()),
        "exp": int(expires_at),
    }
    return jwt.encode(claims, secret, "HS256")


def _verify(verifier: TokenVerifier, token: str) -> Caller:
    return asyncio.run(verifier.verify(token))


def _verifier() -> TokenVerifier:
    return TokenVerifier(audience="authenticated", secret=SECRET)


def test_the_same_token_is_verified_once() -> None:
    verifier = _verifier()
    token = _token(time.time() + 600)
    first = _verify(verifier, token)
    assert _verify(verifier, token) is first


def test_a_remembered_token_stops_working_when_the_token_does() -> None:
    verifier = _verifier()
    # Past its exp but inside the leeway jwt.decode grants: accepted for two more seconds.
    token = _token(time.time() - LEEWAY_SECONDS + 2)
    caller = _verify(verifier, token)
    assert _verify(verifier, token) is caller
    time.sleep(3)
    with pytest.raises(InvalidToken, match="expired"):
        _verify(verifier, token)


def test_a_token_with_the_same_claims_but_another_signature_is_checked_afresh() -> None:
    verifier = _verifier()
    good = _token(time.time() + 600)
    _verify(verifier, good)
    claims = jwt.decode(good, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-that-is-long-enough-for-hs256", "HS256")
    with pytest.raises(InvalidToken):
        _verify(verifier, forged)


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_TOKENS_KEPT", 3)
    verifier = _verifier()
    issued = [_token(time.time() + 600 + i) for i in range(5)]
    for token in issued:
        _verify(verifier, token)
    assert list(verifier._verified) == issued[-3:]
