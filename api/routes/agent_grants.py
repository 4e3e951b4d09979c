"""/v1/agent-grants: which agents (OAuth clients) may read or write your knowledge.

An agent signs in through Supabase Auth's OAuth server; its tokens carry the client's id and no
say over your data. What it may do is your grant, recorded in `public.agent_grants` with your own
token: `read` (it reads what you may read) or `write` (it also writes; it deletes only what it
created). No grant, nothing; deleting the grant revokes it for the agent's next request. The
database decides who may change grants: only your own session, never an agent's token.
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, Field

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from knowledge_core.errors import Forbidden, NotFound

router = APIRouter(prefix="/v1/agent-grants", tags=["agents"], responses=ERROR_RESPONSES)

TABLE = "agent_grants"
COLUMNS = "client_id,access,client_name,created_at,updated_at"
ONLY_YOUR_SESSION = (
    "only your own session may grant, change or revoke an agent's access; an agent's token "
    "(one with a client_id) may not"
)

ClientId = Annotated[
    UUID, Path(description="The agent's OAuth client id (Supabase Auth's client_id, a UUID).")
]


class GrantRequest(BaseModel):
    access: Literal["read", "write"] = Field(
        description="read: the agent reads what you may read. write: it also adds and changes "
        "documents where you may, and deletes only those it created."
    )
    client_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A name to recognise the agent by (the consent page shows Supabase Auth's).",
    )


class AgentGrant(BaseModel):
    client_id: UUID
    access: Literal["read", "write"]
    client_name: str | None
    created_at: datetime
    updated_at: datetime


def _explained(error: Forbidden) -> Forbidden:
    """The database's refusal, said in words: who may change grants."""
    explained = Forbidden(f"{ONLY_YOUR_SESSION} ({error.message})")
    explained.upstream = error.upstream
    return explained


@router.get("", response_model=list[AgentGrant], summary="List the agents you let in")
async def list_grants(kb: CallerKB) -> list[dict[str, Any]]:
    """Your grants, newest first. An agent calling this sees only its own grant."""
    rows, _ = await kb.rest.select(TABLE, {"select": COLUMNS, "order": "created_at.desc"})
    return rows


@router.put("/{client_id}", response_model=AgentGrant, summary="Let an agent read or write")
async def set_grant(client_id: ClientId, grant: GrantRequest, kb: CallerKB) -> dict[str, Any]:
    """Grant an agent `read` or `write`, or change what it has. Idempotent."""
    row: dict[str, Any] = {"client_id": str(client_id), "access": grant.access}
    if grant.client_name is not None:
        row["client_name"] = grant.client_name
    try:
        stored = await kb.rest.upsert(TABLE, row, on_conflict="user_id,client_id")
    except Forbidden as error:
        raise _explained(error) from error
    return {key: stored[key] for key in COLUMNS.split(",")}


@router.delete(
    "/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an agent's access",
    response_class=Response,
)
async def revoke_grant(client_id: ClientId, kb: CallerKB) -> Response:
    """From the agent's next request on it reads and writes nothing. 404 when you have no grant
    for it (or the caller is an agent: only your own session revokes)."""
    deleted = await kb.rest.delete(TABLE, {"client_id": f"eq.{client_id}", "select": "client_id"})
    if not deleted:
        raise NotFound(
            f"no grant for agent {client_id} that this token may revoke ({ONLY_YOUR_SESSION})"
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
