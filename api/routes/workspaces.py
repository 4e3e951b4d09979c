"""/v1/workspaces and /v1/invitations: the caller's workspaces, new ones, their members with
their roles, and the invitations by which people join.

Who may do what is the database's: anyone signed in creates a workspace and owns it; its owners
invite people, change roles and remove members; an invitee joins by accepting, in person (not
through an agent); any member may leave (20_workspaces.sql).
"""

from uuid import UUID

from fastapi import APIRouter, Response, status

from api.deps import CallerKB
from api.errors import ERROR_RESPONSES
from api.responses import model_response
from knowledge_core.models import Invitation, MemberRole, NewWorkspace, Workspace, WorkspaceMember

router = APIRouter(prefix="/v1", tags=["workspaces"], responses=ERROR_RESPONSES)


@router.get("/workspaces", response_model=list[Workspace], summary="List your workspaces")
async def list_workspaces(kb: CallerKB) -> list[Workspace]:
    """The workspaces you belong to, with your role in each."""
    return await kb.list_workspaces()


@router.post(
    "/workspaces",
    status_code=status.HTTP_201_CREATED,
    response_model=Workspace,
    summary="Create a workspace",
)
async def create_workspace(workspace: NewWorkspace, kb: CallerKB) -> Response:
    """A new workspace, with you as its owner."""
    created = await kb.create_workspace(workspace.name)
    answer = model_response(created, status.HTTP_201_CREATED)
    answer.headers["Location"] = f"/v1/workspaces/{created.id}/members"
    return answer


@router.get(
    "/workspaces/{workspace_id}/members",
    response_model=list[WorkspaceMember],
    summary="List a workspace's members",
)
async def list_members(workspace_id: UUID, kb: CallerKB) -> list[WorkspaceMember]:
    """Everyone in a workspace you belong to, with their roles."""
    return await kb.list_members(workspace_id)


@router.put(
    "/workspaces/{workspace_id}/members/{user_id}",
    response_model=WorkspaceMember,
    summary="Change a member's role",
)
async def set_role(
    workspace_id: UUID, user_id: UUID, member: MemberRole, kb: CallerKB
) -> WorkspaceMember:
    """Owners only. Nobody becomes a member this way: invite them, and they accept."""
    return await kb.set_role(workspace_id, user_id, member.role)


@router.delete(
    "/workspaces/{workspace_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a member, or leave",
)
async def remove_member(workspace_id: UUID, user_id: UUID, kb: CallerKB) -> None:
    """Owners remove anyone; anyone removes themselves (leaves)."""
    await kb.remove_member(workspace_id, user_id)


@router.put(
    "/workspaces/{workspace_id}/invitations/{user_id}",
    response_model=Invitation,
    summary="Invite someone, or change the role offered",
)
async def invite(workspace_id: UUID, user_id: UUID, offer: MemberRole, kb: CallerKB) -> Invitation:
    """Owners only. The person is named by their id (`kb whoami` prints yours); they become a
    member with this role when they accept."""
    return await kb.invite(workspace_id, user_id, offer.role)


@router.get(
    "/workspaces/{workspace_id}/invitations",
    response_model=list[Invitation],
    summary="List a workspace's open invitations",
)
async def workspace_invitations(workspace_id: UUID, kb: CallerKB) -> list[Invitation]:
    """Owners see every open invitation of their workspace."""
    return await kb.invitations(workspace_id)


@router.delete(
    "/workspaces/{workspace_id}/invitations/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Withdraw an invitation, or decline one",
)
async def withdraw(workspace_id: UUID, user_id: UUID, kb: CallerKB) -> None:
    """Owners withdraw any; an invitee declines their own."""
    await kb.withdraw(workspace_id, user_id)


@router.get("/invitations", response_model=list[Invitation], summary="List your invitations")
async def my_invitations(kb: CallerKB) -> list[Invitation]:
    """Workspaces you are invited to, with the role offered."""
    return await kb.invitations()


@router.post(
    "/invitations/{workspace_id}/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=WorkspaceMember,
    summary="Accept an invitation",
)
async def accept(workspace_id: UUID, kb: CallerKB) -> Response:
    """You become a member with the role offered. In person only: an agent's token is refused."""
    return model_response(await kb.accept(workspace_id), status.HTTP_201_CREATED)
