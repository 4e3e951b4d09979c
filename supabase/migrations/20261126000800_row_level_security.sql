-- =============================================================================================
-- Row Level Security: who may read and write which knowledge
--
-- The rules, enforced here for every door (supabase-py, plain REST, the API, MCP tools):
--   * A document is readable by its owner and by every member of its workspace.
--   * It is writable by its owner and by the workspace's owners and editors; viewers only read.
--   * Workspaces and their member lists are visible to members; only owners manage them.
--   * Tokens with an OAuth `scope` claim get only what it grants (private.token_allows).
--   * anon gets nothing: there is no public knowledge.
-- Policies wrap auth.uid() and the helpers in `(select ...)` so Postgres evaluates them once per
-- statement (an initPlan), not once per row.
-- =============================================================================================

alter table public.workspaces enable row level security;
alter table public.workspace_members enable row level security;
alter table public.documents enable row level security;
alter table public.document_chunks enable row level security;

-- ---------------------------------------------------------------------------------------------
-- Table privileges. Supabase grants everything in `public` to anon and authenticated; narrow that
-- so a mistake in a policy cannot widen access. anon has no privilege at all on knowledge.
-- Columns that carry ownership or derived values are not updatable by API roles.
-- ---------------------------------------------------------------------------------------------
revoke all on public.workspaces, public.workspace_members, public.documents,
  public.document_chunks from anon, authenticated;

grant select, delete on public.workspaces to authenticated;
grant insert (id, name) on public.workspaces to authenticated;
grant update (name) on public.workspaces to authenticated;

grant select, delete on public.workspace_members to authenticated;
grant insert (workspace_id, user_id, role) on public.workspace_members to authenticated;
grant update (role) on public.workspace_members to authenticated;

grant select, delete on public.documents to authenticated;
grant insert (id, owner_id, workspace_id, title, source, category, metadata, content_hash,
  embedding_model) on public.documents to authenticated;
grant update (workspace_id, title, source, category, metadata, content_hash)
  on public.documents to authenticated;

grant select, delete on public.document_chunks to authenticated;
grant insert (document_id, chunk_index, content, embedding) on public.document_chunks
  to authenticated;
grant update (chunk_index, content, embedding) on public.document_chunks to authenticated;

-- ---------------------------------------------------------------------------------------------
-- workspaces
-- ---------------------------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------------------------
-- workspace_members
-- ---------------------------------------------------------------------------------------------
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

-- ---------------------------------------------------------------------------------------------
-- documents
-- ---------------------------------------------------------------------------------------------
create policy "Documents are readable by their owner and workspace members"
  on public.documents for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor,viewer}'))
    )
  );

-- A private document belongs to its creator; a shared one needs an owner or editor seat.
create policy "Users can add documents of their own or to workspaces they edit"
  on public.documents for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and owner_id = (select auth.uid())
    and (
      workspace_id is null
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  );

-- The owner and the workspace's owners and editors may edit. The updated row must sit where the
-- caller may add documents, so nobody moves a document into a workspace they only view.
create policy "Owners and workspace editors can update documents"
  on public.documents for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and (
      (workspace_id is null and owner_id = (select auth.uid()))
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  );

create policy "Owners and workspace editors can delete documents"
  on public.documents for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  );

-- ---------------------------------------------------------------------------------------------
-- document_chunks: the same rules as their document, on the copied owner/workspace columns
-- ---------------------------------------------------------------------------------------------
create policy "Chunks are readable by their document's owner and workspace members"
  on public.document_chunks for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor,viewer}'))
    )
  );

create policy "Owners and workspace editors can add chunks"
  on public.document_chunks for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  );

create policy "Owners and workspace editors can update chunks"
  on public.document_chunks for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  );

create policy "Owners and workspace editors can delete chunks"
  on public.document_chunks for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
  );
