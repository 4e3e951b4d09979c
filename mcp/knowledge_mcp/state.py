"""What the lifespan creates once per process, and who is calling."""

from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import get_access_token

from knowledge_core.errors import InvalidToken
from knowledge_core.knowledge import Knowledge
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller, TokenVerifier
from knowledge_mcp.auth import caller_of


@dataclass
class AppState:
    """The process-wide parts, shared by every caller: none of them holds a caller's rights."""

    settings: Settings
    knowledge: Knowledge
    verifier: TokenVerifier
    # stdio and in-process connections carry no Authorization header: the token given at start-up.
    fixed_token: str | None = None

    async def caller(self) -> Caller:
        """The caller of the current request.

        Over HTTP the SDK's bearer middleware verified the token of this very request and put it
        in a context variable. Without one (stdio), the start-up token is verified again on each
        call, so a session that outlives its token ends with a clear error, not a PostgREST 401.
        """
        token = get_access_token()
        if token is not None:
            return caller_of(token)
        if self.fixed_token is not None:
            return await self.verifier.verify(self.fixed_token)
        raise InvalidToken(
            "no access token: over HTTP send 'Authorization: Bearer <token>', over stdio set "
            "KB_ACCESS_TOKEN"
        )
