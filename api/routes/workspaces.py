"""/v1/workspaces: the caller's workspaces, new ones, and their members with their roles.

Who may do what is the database's: anyone signed in creates a workspace and owns it; its owners
add, change and remove members; any member may leave (20_workspaces.sql).
"""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from api.responses import model_response
from knowledge_core.models import MemberRole, NewWorkspace, Workspace, WorkspaceMember

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[Workspace], summary="List your workspaces")
async def list_workspaces(kb: CallerKB) -> list[Workspace]:
    """The workspaces you belong to, with your role in each."""
    return await kb.list_workspaces()


@router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=Workspace, summary="Create a workspace"
)
async def create_workspace(workspace: NewWorkspace, kb: CallerKB) -> Response:
    """A new workspace, with you as its owner."""
    created = await kb.create_workspace(workspace.name)
    answer = model_response(created, status.HTTP_201_CREATED)
    answer.headers["Location"] = f"/v1/workspaces/{created.id}/members"
    return answer


@router.get(
    "/{workspace_id}/members",
    response_model=list[WorkspaceMember],
    summary="List a workspace's members",
)
async def list_members(workspace_id: UUID, kb: CallerKB) -> list[WorkspaceMember]:
    """Everyone in a workspace you belong to, with their roles."""
    return await kb.list_members(workspace_id)


@router.put(
    "/{workspace_id}/members/{user_id}",
    response_model=WorkspaceMember,
    summary="Add a member, or change their role",
)
async def set_member(
    workspace_id: UUID, user_id: UUID, member: MemberRole, kb: CallerKB
) -> WorkspaceMember:
    """Owners only. The user is named by their id (`kb whoami` prints yours)."""
    return await kb.set_member(workspace_id, user_id, member.role)


@router.delete(
    "/{workspace_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member, or leave",
)
async def remove_member(workspace_id: UUID, user_id: UUID, kb: CallerKB) -> None:
    """Owners remove anyone; anyone removes themselves (leaves)."""
    await kb.remove_member(workspace_id, user_id)
