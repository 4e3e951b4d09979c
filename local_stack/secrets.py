"""Secrets the stack generates once and keeps in its state directory (never in git)."""

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class StackSecrets:
    jwt_secret: str
    postgres_password: str
    authenticator_password: str

    @classmethod
    def load_or_create(cls, state_dir: Path) -> "StackSecrets":
        """Read the stack's secrets, creating them on first use with owner-only permissions."""
        path = state_dir / "secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        state_dir.mkdir(parents=True, exist_ok=True)
        created = cls(
            # HS256 wants at least 256 bits; Supabase requires 32+ characters.
            jwt_secret=secrets.token_urlsafe(48),
            postgres_password=secrets.token_urlsafe(24),
            authenticator_password=secrets.token_urlsafe(24),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(created), out, indent=2)
        return created
