-- =============================================================================================
-- Workspaces: knowledge shared between users, with one role per member
-- =============================================================================================
-- Who may do what:
--   * A workspace and its member list are visible to its members; a workspace's name also to
--     the people invited to it.
--   * Anyone signed in may create one, and becomes its first owner.
--   * Only owners rename or delete it, invite people, change roles or remove members; anyone
--     may leave.
--   * Nobody becomes a member without saying so: an owner invites, the invitee accepts (or
--     declines). Until then nothing of the workspace reaches them, so an owner cannot plant
--     documents in a stranger's searches.
--   * An agent (a token with an OAuth client_id) gets what its user granted it
--     (10_caller_token.sql).
-- Policies wrap auth.uid() and the helpers in `(select ...)` so Postgres evaluates them once per
-- statement (an initPlan), not once per row.

-- Ordered from most to least privileged.
create type public.workspace_role as enum ('owner', 'editor', 'viewer');

create table public.workspaces (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 200),
  -- Deleting the creator must not delete knowledge other members keep here.
  created_by uuid default auth.uid() references auth.users (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.workspaces is 'A group of users sharing documents; members have a role each.';
create index workspaces_created_by_idx on public.workspaces (created_by);

create table public.workspace_members (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  user_id uuid not null references auth.users (id) on delete cascade,
  role public.workspace_role not null default 'viewer',
  created_at timestamptz not null default now(),
  primary key (workspace_id, user_id)
);
comment on table public.workspace_members is 'Who belongs to which workspace, and with which role.';
-- Policies look members up by user; the primary key already serves lookups by workspace.
create index workspace_members_user_id_idx on public.workspace_members (user_id);

-- An owner's offer of a seat, until its invitee accepts (and becomes a member) or declines.
-- invitee_id has no foreign key on purpose: an invitation to an id that is no account is
-- stored like any other, so inviting tells the inviter nothing about who has an account (a
-- key would answer 409 for unknown ids). Such an invitation is simply never accepted.
create table public.workspace_invitations (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  invitee_id uuid not null,
  role public.workspace_role not null default 'viewer',
  created_at timestamptz not null default now(),
  -- Last: pg-delta adds a column whose default calls a function after its table.
  invited_by uuid default auth.uid() references auth.users (id) on delete cascade,
  primary key (workspace_id, invitee_id)
);
comment on table public.workspace_invitations is
  'Seats offered in a workspace: the invitee becomes a member by accepting.';
-- Invitees look up their own invitations; the inviter's key needs its own index.
create index workspace_invitations_invitee_id_idx on public.workspace_invitations (invitee_id);
create index workspace_invitations_invited_by_idx on public.workspace_invitations (invited_by);

-- ---------------------------------------------------------------------------------------------
-- The caller's workspaces, for every policy that asks
-- ---------------------------------------------------------------------------------------------
-- The workspaces where the caller holds one of `roles`.
-- security definer: policies on workspace_members would otherwise recurse into themselves. It runs
-- as the table owner (RLS bypassed) but only ever answers for auth.uid(), the verified caller.
-- Policies call it as `workspace_id in (select private.caller_workspace_ids(...))`, evaluated
-- once per statement rather than once per row (or as `= any (array(select ...))` where an index
-- should use the answer: the chunks' read policy, 40_document_chunks.sql).
create function private.caller_workspace_ids(roles public.workspace_role[])
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select m.workspace_id
  from public.workspace_members m
  where m.user_id = (select auth.uid())
    and m.role = any (roles)
$$;
revoke execute on function private.caller_workspace_ids(public.workspace_role[]) from public;
grant execute on function private.caller_workspace_ids(public.workspace_role[])
  to authenticated, service_role;

-- Whoever creates a workspace becomes its first owner.
create function private.add_workspace_creator_as_owner()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.created_by is not null then
    insert into public.workspace_members (workspace_id, user_id, role)
    values (new.id, new.created_by, 'owner');
  end if;
  return null;
end
$$;
revoke execute on function private.add_workspace_creator_as_owner() from public;

-- Accepting an invitation spends it.
create function private.spend_accepted_invitation()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from public.workspace_invitations i
  where i.workspace_id = new.workspace_id and i.invitee_id = new.user_id;
  return null;
end
$$;
revoke execute on function private.spend_accepted_invitation() from public;

create trigger workspace_members_spend_invitation
  after insert on public.workspace_members
  for each row execute function private.spend_accepted_invitation();

create trigger workspaces_add_creator_as_owner
  after insert on public.workspaces
  for each row execute function private.add_workspace_creator_as_owner();
create trigger workspaces_touch_updated_at
  before update on public.workspaces
  for each row execute function private.touch_updated_at();

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies
-- ---------------------------------------------------------------------------------------------
-- Each role gets what it needs, granted here (hosted Supabase grants new tables to nobody; older
-- projects granted everything to every API role, hence the revoke), so a mistake in a policy
-- cannot widen access. anon has no privilege at all. Who created a workspace, and when, is not
-- the client's to write; nor is its id: a chosen id that collided with someone else's workspace
-- answered 409 where a free one answered 201, telling which ids exist.
alter table public.workspaces enable row level security;
revoke all on public.workspaces from anon, authenticated, service_role;
grant select, delete on public.workspaces to authenticated;
grant insert (name) on public.workspaces to authenticated;
grant update (name) on public.workspaces to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.workspaces to service_role;

-- The creator is named too: the row must be readable in the INSERT's RETURNING, before the
-- trigger's owner membership is visible to the statement.
create policy "Workspaces are visible to their members and invitees"
  on public.workspaces for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      created_by = (select auth.uid())
      or id in (select private.caller_workspace_ids('{owner,editor,viewer}'))
      or id in (
        select i.workspace_id from public.workspace_invitations i
        where i.invitee_id = (select auth.uid())
      )
    )
  );

create policy "Users can create workspaces they own"
  on public.workspaces for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and created_by = (select auth.uid())
  );

create policy "Workspace owners can rename their workspace"
  on public.workspaces for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and id in (select private.caller_workspace_ids('{owner}'))
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and id in (select private.caller_workspace_ids('{owner}'))
  );

create policy "Workspace owners can delete their workspace"
  on public.workspaces for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and id in (select private.caller_workspace_ids('{owner}'))
  );

-- A membership's workspace and user are fixed once made; owners change only the role. A row is
-- inserted by its own user, accepting an invitation (or by the trigger that seats a creator).
alter table public.workspace_members enable row level security;
revoke all on public.workspace_members from anon, authenticated, service_role;
grant select, delete on public.workspace_members to authenticated;
grant insert (workspace_id, user_id, role) on public.workspace_members to authenticated;
grant update (role) on public.workspace_members to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.workspace_members to service_role;

create policy "Members can see who else is in their workspaces"
  on public.workspace_members for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      user_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor,viewer}'))
    )
  );

-- Accepting is the person's own decision: a session of theirs, not an agent acting for them,
-- and exactly the role they were offered.
create policy "Invitees can accept their invitations"
  on public.workspace_members for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and (select private.token_client_id()) is null
    and user_id = (select auth.uid())
    and exists (
      select 1 from public.workspace_invitations i
      where i.workspace_id = workspace_members.workspace_id
        and i.invitee_id = (select auth.uid())
        and i.role = workspace_members.role
    )
  );

create policy "Workspace owners can change members' roles"
  on public.workspace_members for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and workspace_id in (select private.caller_workspace_ids('{owner}'))
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and workspace_id in (select private.caller_workspace_ids('{owner}'))
  );

create policy "Workspace owners can remove members and members can leave"
  on public.workspace_members for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      user_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner}'))
    )
  );

alter table public.workspace_invitations enable row level security;
revoke all on public.workspace_invitations from anon, authenticated, service_role;
grant select, delete on public.workspace_invitations to authenticated;
grant insert (workspace_id, invitee_id, role) on public.workspace_invitations to authenticated;
grant update (role) on public.workspace_invitations to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.workspace_invitations to service_role;

create policy "Invitations are visible to invitees and workspace owners"
  on public.workspace_invitations for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      invitee_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner}'))
    )
  );

create policy "Workspace owners can invite people"
  on public.workspace_invitations for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and workspace_id in (select private.caller_workspace_ids('{owner}'))
  );

create policy "Workspace owners can change the role they offer"
  on public.workspace_invitations for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and workspace_id in (select private.caller_workspace_ids('{owner}'))
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and workspace_id in (select private.caller_workspace_ids('{owner}'))
  );

-- An owner withdraws an invitation; its invitee declines it.
create policy "Owners can withdraw invitations and invitees can decline them"
  on public.workspace_invitations for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      invitee_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner}'))
    )
  );
