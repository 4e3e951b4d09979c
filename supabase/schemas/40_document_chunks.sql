-- =============================================================================================
-- Document chunks: the passages of a document, each with its 384-d embedding
-- =============================================================================================
-- A passage's owner, workspace, model, category and metadata are its document's, copied by a
-- trigger whatever a client sends, so RLS and search filter on the passage row with no join per
-- candidate (a join there makes the planner give up the HNSW walk for a full sort). The same
-- rules as the document, on the copied columns: readable by its owner and the workspace's
-- members, written by its owner and the workspace's owners and editors.
-- Other parts that act on passages: one HNSW graph per model (50_embedding_models.sql), the
-- queue's trigger that marks a document ready when its passages arrive (85_embedding_queue.sql).

create table public.document_chunks (
  id bigint generated always as identity primary key,
  document_id uuid not null references public.documents (id) on delete cascade,
  -- Copies of the document's, kept true by triggers (below, and documents_propagate_scope).
  owner_id uuid not null references auth.users (id) on delete cascade,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  embedding_model text not null,
  category text,
  -- The document's metadata with this passage's location merged over it.
  metadata jsonb not null default '{}'::jsonb,
  chunk_index integer not null check (chunk_index >= 0),
  content text not null check (char_length(content) between 1 and 8000),
  embedding extensions.vector(384) not null,
  fts tsvector generated always as (to_tsvector('english', content)) stored,
  created_at timestamptz not null default now(),
  -- Where the passage sits in its file, written by the ingest so an agent can cite it.
  location jsonb not null default '{}'::jsonb
    check (jsonb_typeof(location) = 'object' and pg_column_size(location) <= 4096),
  unique (document_id, chunk_index)
);
comment on table public.document_chunks is 'A passage of a document with its 384-d embedding and full-text vector.';
comment on column public.document_chunks.location is
  'Where the passage is in its file: {"page": n} or {"pages": [first, last]} (PDF), '
  '{"headings": [outermost, ..., innermost]} (HTML, DOCX, Markdown); merged into metadata.';

-- The indexes that find a caller's rows carry the model as a second column (searches filter on
-- it: vectors of different models are not comparable): an exact scan of a caller's rows of one
-- model reads only those, and counting them is an index-only scan. With the owner / workspace
-- column leading they also serve RLS and the foreign keys (document_id leads the unique
-- (document_id, chunk_index) index). The workspace index carries the owner too, so a count of a
-- workspace's rows can leave out the caller's own (counted once, on the owner's side) without
-- visiting the table.
create index document_chunks_owner_model_idx
  on public.document_chunks (owner_id, embedding_model);
create index document_chunks_workspace_model_idx
  on public.document_chunks (workspace_id, embedding_model) include (owner_id);
-- The keyword side of hybrid search.
create index document_chunks_fts_idx on public.document_chunks using gin (fts);

-- A passage cannot claim a scope its document does not have: the copy is made before RLS checks
-- the row, and the insert/update policies then decide with these trusted values. The passage's
-- own location is merged over the document's metadata, so search results carry it in `metadata`
-- and filters on the document's keys still match (containment ignores the extra keys).
-- security definer so the copy does not depend on what the caller may read.
create function private.copy_document_scope_to_chunk()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  select d.owner_id, d.workspace_id, d.embedding_model, d.category,
         d.metadata || coalesce(new.location, '{}'::jsonb)
    into new.owner_id, new.workspace_id, new.embedding_model, new.category, new.metadata
  from public.documents d
  where d.id = new.document_id;
  -- A missing document is refused exactly as one the caller may not write (RLS's own words and
  -- code, 403): otherwise 409 for "no such id" against 403 for "someone else's" would tell
  -- which ids exist.
  if not found then
    raise insufficient_privilege using
      message = 'new row violates row-level security policy for table "document_chunks"';
  end if;
  return new;
end
$$;
revoke execute on function private.copy_document_scope_to_chunk() from public;

-- A changed location must refresh the merged metadata, so the trigger fires on it too.
create trigger document_chunks_copy_scope
  before insert or update of document_id, owner_id, workspace_id, embedding_model, category,
    metadata, location
  on public.document_chunks
  for each row execute function private.copy_document_scope_to_chunk();

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies
-- ---------------------------------------------------------------------------------------------
-- Clients write the text, vector, position and location; the scope columns are the triggers'.
alter table public.document_chunks enable row level security;
revoke all on public.document_chunks from anon, authenticated, service_role;
grant select, delete on public.document_chunks to authenticated;
grant insert (document_id, chunk_index, content, embedding, location) on public.document_chunks
  to authenticated;
grant update (chunk_index, content, embedding, location) on public.document_chunks
  to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.document_chunks to service_role;

-- Both arms of the OR are index conditions. `workspace_id in (select ...)` would be a hashed
-- SubPlan, which the planner can only apply as a filter: every RLS-restricted read of the
-- passages was a sequential scan of the whole table (a user owning 2,000 of 200,000 rows paid
-- 160 ms to count them). `= any (array(select ...))` is an InitPlan, run once per statement,
-- whose value the planner can use in an index condition: the caller's rows are found by a
-- BitmapOr of the owner and workspace indexes (12 ms). private.visible_keyword_ranking
-- (62_keyword_index.sql) picks the caller's keyword cells by this same rule and must stay it.
-- (Postgres keeps the first 63 characters of the name.)
create policy "Chunks are readable by their document's owner and workspace members"
  on public.document_chunks for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and (
      owner_id = (select auth.uid())
      or workspace_id = any (array(select private.caller_workspace_ids('{owner,editor,viewer}')))
    )
  );

-- Passages are written where their document may be, and by an agent only in a document it
-- created (private.caller_may_change_document): deleting a person's passages would leave their
-- document `ready` and unfindable.
create policy "Editors can add chunks; agents only to their own documents"
  on public.document_chunks for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change_document(document_id)
  );

create policy "Editors can update chunks; agents only in their own documents"
  on public.document_chunks for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change_document(document_id)
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change_document(document_id)
  );

create policy "Editors can delete chunks; agents only in their own documents"
  on public.document_chunks for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change_document(document_id)
  );
