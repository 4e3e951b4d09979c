"""Secrets the stack generates once and keeps in its state directory (never in git)."""

import json
import os
import secrets
import uuid
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def _new_signing_key() -> dict[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {"signing_key_pem": pem, "signing_key_id": str(uuid.uuid4())}


@dataclass(frozen=True)
class StackSecrets:
    jwt_secret: str
    # supabase_admin: the cluster's superuser, as on hosted, for laying the platform only.
    admin_password: str
    # postgres: the project's own role, not a superuser (as on hosted).
    postgres_password: str
    authenticator_password: str
    # The embedding worker's login (role kb_embedding_worker, created by a migration).
    worker_password: str
    # An ES256 key, as hosted Supabase now signs user tokens with asymmetric keys (JWKS).
    signing_key_pem: str
    signing_key_id: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> "StackSecrets":
        """Read the stack's secrets, creating any missing one, with owner-only permissions."""
        path = state_dir / "secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
        generated: dict[str, str] = {
            # HS256 wants at least 256 bits; Supabase requires 32+ characters.
            "jwt_secret": secrets.token_urlsafe(48),
            "admin_password": secrets.token_urlsafe(24),
            "postgres_password": secrets.token_urlsafe(24),
            "authenticator_password": secrets.token_urlsafe(24),
            "worker_password": secrets.token_urlsafe(24),
            **_new_signing_key(),
        }
        names = {f.name for f in fields(cls)}
        if names <= set(stored):
            return cls(**{name: stored[name] for name in names})
        merged = {name: stored.get(name, generated[name]) for name in names}
        state_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(merged, out, indent=2)
        temporary.replace(path)
        return cls(**merged)

    def public_jwk(self) -> dict[str, Any]:
        """The public half of the signing key, as a JWKS entry."""
        private = serialization.load_pem_private_key(self.signing_key_pem.encode(), None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
        return {
            **jwk,
            "kid": self.signing_key_id,
            "alg": "ES256",
            "use": "sig",
            "key_ops": ["verify"],
        }

    def jwks(self) -> dict[str, Any]:
        """What Supabase Auth publishes at /auth/v1/.well-known/jwks.json."""
        return {"keys": [self.public_jwk()]}

    def postgrest_jwks(self) -> dict[str, Any]:
        """PostgREST accepts both: the HS256 secret (as an `oct` key) and the public ES256 key."""
        encoded = jwt.utils.base64url_encode(self.jwt_secret.encode()).decode()
        return {"keys": [{"kty": "oct", "k": encoded, "alg": "HS256"}, self.public_jwk()]}
