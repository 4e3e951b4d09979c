-- =============================================================================================
-- Workspaces: knowledge shared between users, with one role per member
-- =============================================================================================
-- Who may do what:
--   * A workspace and its member list are visible to its members.
--   * Anyone signed in may create one, and becomes its first owner.
--   * Only owners rename or delete it, and add, change or remove members; anyone may leave.
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
-- the client's to write.
alter table public.workspaces enable row level security;
revoke all on public.workspaces from anon, authenticated, service_role;
grant select, delete on public.workspaces to authenticated;
grant insert (id, name) on public.workspaces to authenticated;
grant update (name) on public.workspaces to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.workspaces to service_role;

-- The creator is named too: the row must be readable in the INSERT's RETURNING, before the
-- trigger's owner membership is visible to the statement.
create policy "Workspaces are visible to their members"
  on public.workspaces for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      created_by = (select auth.uid())
      or id in (select private.caller_workspace_ids('{owner,editor,viewer}'))
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

-- A membership's workspace and user are fixed once made; owners change only the role.
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

create policy "Workspace owners can add members"
  on public.workspace_members for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and workspace_id in (select private.caller_workspace_ids('{owner}'))
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
