-- =============================================================================================
-- Documents: a unit of knowledge, its text, and whether its passages are embedded
-- =============================================================================================
-- Who may do what:
--   * A document is readable by its owner and by every member of its workspace.
--   * It is added by its owner, privately or into a workspace they own or edit; changed by its
--     owner and the workspace's owners and editors; viewers only read.
--   * An agent (a token with a `client_id`) deletes only documents it created, whatever access
--     the user granted it.
--   * anon gets nothing: there is no public knowledge.
-- Other triggers on documents: the model registry's (50_embedding_models.sql) and the
-- embedding queue's (85_embedding_queue.sql).

-- ---------------------------------------------------------------------------------------------
-- The project's embedding model
-- ---------------------------------------------------------------------------------------------
-- One answer to "which model embeds a document nobody embedded?": the default model of a
-- document written without one (a plain supabase-js insert), the model the worker is asked for,
-- and what a model migration changes (private.set_embedding_model). Clients that embed
-- themselves (the edge, LangChain) state their own model per document; vectors of two models are
-- never mixed silently (search filters on the model). Its one row is written by the migration
-- that follows the baseline.
create table private.project_settings (
  -- One row: the project's settings.
  singleton boolean primary key default true check (singleton),
  embedding_model text not null check (char_length(embedding_model) between 1 and 200),
  updated_at timestamptz not null default now()
);
comment on table private.project_settings is
  'Project-wide settings (one row); embedding_model: the model automatic embeddings use.';
-- Column defaults are evaluated as the inserting role: callers read the (non-secret) setting.
grant select on private.project_settings to authenticated, service_role;

create function private.project_embedding_model()
returns text
language sql
stable
set search_path = ''
as $$
  select s.embedding_model from private.project_settings s
$$;
revoke execute on function private.project_embedding_model() from public;
grant execute on function private.project_embedding_model() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The table
-- ---------------------------------------------------------------------------------------------
-- The text is a column: Postgres stores a long value out of line (TOAST, compressed), so the row
-- itself stays small and scans of it do not read the text; a table of its own would cost a
-- second row, a second index and a join on every read, for the same bytes. `select=*` does return
-- the text: clients listing many documents name their columns, as the edge does.
-- (Columns in the order the table has them: new ones go at the end.)
create table public.documents (
  id uuid primary key default gen_random_uuid(),
  -- Deleting a user deletes the knowledge they own.
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- Null: private to the owner. Otherwise shared with the workspace's members.
  workspace_id uuid references public.workspaces (id) on delete cascade,
  title text not null check (char_length(title) between 1 and 500),
  source text check (char_length(source) <= 2000),
  category text check (char_length(category) between 1 and 100),
  metadata jsonb not null default '{}'::jsonb
    check (jsonb_typeof(metadata) = 'object' and pg_column_size(metadata) <= 65536),
  -- sha256 of the document's text, hex: lets a retried ingest find the document it already made,
  -- and tells the worker the text changed.
  content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  -- Every passage of a document is embedded by this model; vectors of different models are not
  -- comparable, so search filters on it rather than mixing them silently.
  embedding_model text not null default private.project_embedding_model()
    check (char_length(embedding_model) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- From the token, never from the request: not in the insert or update grants below.
  created_by_client text default (auth.jwt() ->> 'client_id')
    check (char_length(created_by_client) <= 200),
  content text check (char_length(content) between 1 and 2000000),
  -- Set by triggers and by the worker's functions, never by a client:
  --   pending: passages are being made for the current text (or a new model)
  --   ready:   the passages match the text (or were written by the caller)
  --   failed:  embedding_error says why
  embedding_status text not null default 'ready'
    check (embedding_status in ('pending', 'ready', 'failed')),
  embedding_error text check (char_length(embedding_error) <= 2000),
  -- A file's layout, when the text came from one: how `content` divides into the file's sections
  -- (a PDF's pages, the text under each heading), so that its passages keep to them and say
  -- where they are. Null for plain text. Checked against the text by a trigger (below).
  sections jsonb check (jsonb_typeof(sections) = 'array' and pg_column_size(sections) <= 1048576),
  -- Set by the worker's functions and the passages' trigger, never by a client: how many of the
  -- current text's passages are embedded (null until the worker has chunked it) of how many.
  passages_embedded integer check (passages_embedded >= 0),
  passages_total integer check (passages_total >= 0),
  -- The same text stored twice in the same place is the same document.
  constraint documents_same_content_once unique nulls not distinct (owner_id, workspace_id, content_hash)
);
comment on table public.documents is 'A unit of knowledge, owned by a user and optionally shared with a workspace.';
comment on column public.documents.created_by_client is
  'OAuth client_id of the agent that created the document; null when a person did.';
comment on column public.documents.content is
  'The document''s text; passages are chunked and embedded from it automatically.';
comment on column public.documents.embedding_status is
  'pending, ready or failed: whether the passages match the text (set by the database).';
comment on column public.documents.embedding_error is
  'Why embedding failed (or the last retried failure); null when all is well.';
comment on column public.documents.sections is
  'How content divides into its file''s sections: [{"chars": n, "page": p} | {"chars": n, '
  '"headings": [...]}], joined by blank lines; null for plain text.';
comment on column public.documents.passages_embedded is
  'Passages of the current text embedded so far (set by the database).';
comment on column public.documents.passages_total is
  'Passages the current text makes (set by the database; null until known).';

-- Metadata filters (`metadata @> '{"lang": "en"}'`); jsonb_path_ops is smaller and faster than the
-- default opclass for containment, which is the only operator the API uses.
create index documents_metadata_idx on public.documents using gin (metadata jsonb_path_ops);
create index documents_category_idx on public.documents (category);
-- Policies filter by workspace; owner_id leads the unique (owner, workspace, hash) index already.
create index documents_workspace_id_idx on public.documents (workspace_id);
-- The owner lists what is waiting or failed without reading every document.
create index documents_embedding_status_idx on public.documents (owner_id, embedding_status)
  where embedding_status <> 'ready';

-- ---------------------------------------------------------------------------------------------
-- Triggers: the hash and status follow the text; the passages follow the document
-- ---------------------------------------------------------------------------------------------
create trigger documents_touch_updated_at
  before update on public.documents
  for each row execute function private.touch_updated_at();

-- A file's layout must describe its text exactly: each section is `chars` characters of the text
-- (Unicode code points, as char_length counts them), consecutive sections joined by one blank
-- line ("\n\n"), with at most a `page` (1-based) or a `headings` path (outermost first). The edge
-- builds it from the file (knowledge_core.chunking.layout_of); the worker cuts the text by it.
create function private.sections_fit(sections jsonb, content text)
returns boolean
language plpgsql
immutable
set search_path = ''
as $$
declare
  section jsonb;
  total bigint := 0;
begin
  if content is null or jsonb_typeof(sections) is distinct from 'array'
     or jsonb_array_length(sections) not between 1 and 100000 then
    return false;
  end if;
  for section in select s from jsonb_array_elements(sections) s loop
    if jsonb_typeof(section) <> 'object'
       or jsonb_typeof(section -> 'chars') is distinct from 'number'
       or (section ->> 'chars') !~ '^[0-9]{1,9}$'
       or exists (select 1 from jsonb_object_keys(section) k
                  where k not in ('chars', 'page', 'headings'))
       or (section ? 'page' and section ? 'headings') then
      return false;
    end if;
    if section ? 'page' and (jsonb_typeof(section -> 'page') <> 'number'
                             or (section ->> 'page') !~ '^[1-9][0-9]{0,8}$') then
      return false;
    end if;
    if section ? 'headings' and (jsonb_typeof(section -> 'headings') <> 'array'
       or exists (select 1 from jsonb_array_elements(section -> 'headings') h
                  where jsonb_typeof(h) <> 'string')) then
      return false;
    end if;
    total := total + (section ->> 'chars')::bigint;
  end loop;
  return total + 2 * (jsonb_array_length(sections) - 1) = char_length(content);
end
$$;
revoke execute on function private.sections_fit(jsonb, text) from public;
-- The text trigger runs as the writer (any API role that may write documents).
grant execute on function private.sections_fit(jsonb, text) to authenticated, service_role;

-- The hash is the text's when there is text, whatever a client sent: sha256 of the UTF-8 bytes,
-- hex (what `sha256sum` prints for the text saved as UTF-8). A document with
-- new text (or a new layout) waits for passages (pending); one without text and without passages
-- cannot be searched, and says so (failed) until passages are written for it. Writing the same
-- text again over a failed document is how its owner asks for another try.
-- A layout belongs to the text it was made for: new text written without a new layout is plain
-- text from then on (the old layout is dropped when it no longer fits); a layout written with the
-- text must fit it, or the write is refused, so a bad layout never leaves a document behind.
create function private.track_document_text()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.content is not null then
    new.content_hash := encode(sha256(convert_to(new.content, 'UTF8')), 'hex');
  end if;
  if new.sections is not null and not private.sections_fit(new.sections, new.content) then
    if tg_op = 'UPDATE' and new.sections is not distinct from old.sections then
      new.sections := null;
    else
      raise exception 'sections must be a list of {"chars", "page" or "headings"} whose chars, '
        'joined by blank lines, add up to the text (% characters)', char_length(new.content)
        using errcode = '22023';
    end if;
  end if;
  if tg_op = 'INSERT' then
    if new.content is not null then
      new.embedding_status := 'pending';
      new.embedding_error := null;
    else
      new.embedding_status := 'failed';
      new.embedding_error := 'the document has no text (content) and no passages yet';
    end if;
    new.passages_embedded := null;
    new.passages_total := null;
  elsif new.content is not null
        and (new.content_hash is distinct from old.content_hash
             or new.sections is distinct from old.sections
             or old.embedding_status = 'failed')
  then
    -- New text or layout, or the same text written again after a failure: (re)embed it.
    new.embedding_status := 'pending';
    new.embedding_error := null;
    new.passages_embedded := null;
    new.passages_total := null;
  end if;
  return new;
end
$$;
revoke execute on function private.track_document_text() from public;

create trigger documents_track_text
  before insert or update of content, content_hash, sections on public.documents
  for each row execute function private.track_document_text();

-- Moving a document to another workspace moves its passages with it; a new owner, category or
-- metadata reaches them too (each passage's own location kept over the metadata). The caller's
-- right to change the document was decided by its policies; security definer so the copy does
-- not depend on what the caller may read of the passages.
create function private.propagate_document_scope()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.document_chunks c
     set owner_id = new.owner_id, workspace_id = new.workspace_id,
         category = new.category, metadata = new.metadata || c.location
   where c.document_id = new.id;
  return null;
end
$$;
revoke execute on function private.propagate_document_scope() from public;

create trigger documents_propagate_scope
  after update of owner_id, workspace_id, category, metadata on public.documents
  for each row
  when (old.owner_id is distinct from new.owner_id
        or old.workspace_id is distinct from new.workspace_id
        or old.category is distinct from new.category
        or old.metadata is distinct from new.metadata)
  execute function private.propagate_document_scope();

-- The agents' rule (private.caller_may_change, 10_caller_token.sql) for a passage, asked of its
-- document (40_document_chunks.sql). Runs as the caller: an agent that may not read the document
-- may not write its passages either.
create function private.caller_may_change_document(document_id uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
  select (select private.token_client_id()) is null
      or exists (
        select 1 from public.documents d
        where d.id = document_id
          and d.created_by_client = (select private.token_client_id())
      )
$$;
revoke execute on function private.caller_may_change_document(uuid) from public;
grant execute on function private.caller_may_change_document(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies
-- ---------------------------------------------------------------------------------------------
-- Ownership, the creating agent, the status, the progress and the timestamps are not the
-- client's to write.
-- content_hash stays writable for callers that write their passages themselves without text.
alter table public.documents enable row level security;
revoke all on public.documents from anon, authenticated, service_role;
grant select, delete on public.documents to authenticated;
grant insert (id, owner_id, workspace_id, title, source, category, metadata, content_hash,
  embedding_model, content, sections) on public.documents to authenticated;
grant update (workspace_id, title, source, category, metadata, content_hash, content, sections)
  on public.documents to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.documents to service_role;

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

-- The owner and the workspace's owners and editors may edit; an agent only what it created
-- (private.caller_may_change). The updated row must sit where the caller may add documents, so
-- nobody moves a document into a workspace they only view.
create policy "Editors can update documents; agents only their own"
  on public.documents for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change(created_by_client)
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and (
      (workspace_id is null and owner_id = (select auth.uid()))
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change(created_by_client)
  );

-- People as above; an agent only what it created, so one agent cannot destroy what a person or
-- another agent wrote.
create policy "Editors can delete documents; agents only their own"
  on public.documents for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and private.caller_may_change(created_by_client)
  );
