"""Dependencies: the verified caller, and the knowledge service bound to their token."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import NO_TOKEN_MESSAGE
from knowledge_core.errors import InvalidToken
from knowledge_core.knowledge import CallerKnowledge, Knowledge
from knowledge_core.logs import user_id_var
from knowledge_core.tokens import Caller, TokenVerifier

bearer = HTTPBearer(auto_error=False, description="A Supabase access token (the user's JWT).")


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise InvalidToken(NO_TOKEN_MESSAGE)
    verifier: TokenVerifier = request.app.state.verifier
    caller = await verifier.verify(credentials.credentials)
    user_id_var.set(caller.user_id)
    request.state.user_id = caller.user_id
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def knowledge(request: Request) -> Knowledge:
    service: Knowledge = request.app.state.knowledge
    return service


async def caller_knowledge(request: Request, caller: CurrentCaller) -> CallerKnowledge:
    return knowledge(request).for_caller(caller, getattr(request.state, "request_id", None))


CallerKB = Annotated[CallerKnowledge, Depends(caller_knowledge)]
