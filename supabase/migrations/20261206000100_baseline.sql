-- =============================================================================================
-- Baseline: the database as supabase/schemas/ stated it on 2026-12-06
-- =============================================================================================
-- Generated, not written: the files of supabase/schemas/ of that day, in order, each under a
-- banner naming it (docs/database.md, "The baseline"). It replaced the 39 migrations of
-- 2026-11-26 to 2026-12-03, whose final state it restates object for object. What no schema diff
-- sees (settings rows, the model registry, role settings) follows in the next migration.
-- Never edit it: change supabase/schemas/ and generate a migration (`kb-stack db diff NAME`).

-- #############################################################################################
-- supabase/schemas/00_extensions_and_schemas.sql
-- #############################################################################################

-- =============================================================================================
-- Extensions, schemas and function privileges: what every other file stands on
-- =============================================================================================
-- The files of supabase/schemas/ state the whole database as it is now, one concern a file,
-- applied in the order of their names. Migrations are generated from them (docs/database.md).

-- pgvector: the `vector` and `halfvec` types, distance operators, the HNSW index access method.
-- In `extensions`, where Supabase keeps extensions (the extension_in_public advisor flags one in
-- `public`); PostgREST puts that schema on every request's search_path.
create extension if not exists vector with schema extensions;

-- Deny by default. Postgres lets PUBLIC execute every new function, and Supabase's default
-- privileges add anon and authenticated in `public`: each callable function is granted beside
-- its definition instead, so nothing becomes callable by `anon` by accident.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

-- Helpers of policies, triggers and searches. PostgREST does not expose this schema (it is not
-- in `api.schemas`), so none of them is an RPC endpoint.
create schema private;
revoke all on schema private from public;
-- Policies run as the caller, so the caller's role must reach the helpers they call. Two more
-- roles reach the schema, each for one reason: anon for the pre-request hook
-- (95_request_checks.sql), the embedding worker for its own functions (85_embedding_queue.sql).
grant usage on schema private to authenticated, service_role;

-- Keeps `updated_at` true on every table that has one.
create function private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke execute on function private.touch_updated_at() from public;

-- #############################################################################################
-- supabase/schemas/01_pgvector.sql (added to the baseline later: it builds nothing, and a
-- database made before it has passed it)
-- #############################################################################################

-- =============================================================================================
-- pgvector as the schema needs it: checked, and loaded into the session
-- =============================================================================================
-- 0.8 or later: iterative index scans (hnsw.iterative_scan), without which a search that RLS or
-- a filter narrows can silently return too few rows. In `extensions`, where every statement here
-- names it (and where Supabase's advisors want it).
--
-- Then the type is used once, which loads pgvector's library into this session and so defines
-- the hnsw.* settings. Until then Postgres takes the `set hnsw.ef_search = ...` of a
-- `create function` for a setting no library defined, which only a superuser may set: it
-- refuses it to `postgres`, which is no superuser on hosted (hosted does not preload pgvector,
-- and `load 'vector'` is refused to a non-superuser too).
--
-- `kb-stack db diff` puts this file at the top of every migration it writes that sets a hnsw.*
-- or ivfflat.* option, so each migration also applies alone, in a fresh session
-- (tests/database/test_migrations.py).
do $$
declare
  installed record;
begin
  select e.extversion as version, e.extnamespace::regnamespace::text as schema
    into installed
    from pg_catalog.pg_extension e
   where e.extname = 'vector';
  if installed.schema is distinct from 'extensions' then
    raise exception 'pgvector is in schema %, not in extensions', installed.schema
      using hint = 'Run: alter extension vector set schema extensions;';
  end if;
  if (regexp_match(installed.version, '^(\d+)\.(\d+)'))::integer[] < array[0, 8] then
    raise exception 'pgvector % is too old: iterative index scans need 0.8 or later',
      installed.version
      using hint = 'Run: alter extension vector update; (if the server has no pgvector 0.8, '
                   'upgrade the project''s Postgres first: Dashboard, Settings, Infrastructure).';
  end if;
  perform '[1]'::extensions.vector;
end
$$;

-- #############################################################################################
-- supabase/schemas/10_caller_token.sql
-- #############################################################################################

-- =============================================================================================
-- What the caller's token allows: scopes and the agent's client id
-- =============================================================================================
-- Supabase Auth's OAuth server issues agents (third-party OAuth clients) tokens with a
-- space-separated `scope` claim and a `client_id`; first-party session tokens have neither.
-- Policies ask these two helpers, so the rule about tokens is written here once.

-- Whether the caller's token allows `required` ('knowledge:read' or 'knowledge:write'). A token
-- with a `scope` claim gets only what it grants ('knowledge:write' implies read); a session
-- token without one keeps its user's full rights.
create function private.token_allows(required text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select case
    when (select auth.jwt()) ? 'scope' then
      string_to_array(coalesce((select auth.jwt()) ->> 'scope', ''), ' ')
        && case required
             when 'knowledge:read' then array['knowledge:read', 'knowledge:write']
             else array[required]
           end
    else true
  end
$$;
revoke execute on function private.token_allows(text) from public;
grant execute on function private.token_allows(text) to authenticated, service_role;

-- The OAuth client (agent) the token was issued to; null for a person's session. Recorded on
-- the documents an agent creates, and what limits an agent to deleting its own.
create function private.token_client_id()
returns text
language sql
stable
set search_path = ''
as $$
  select (select auth.jwt()) ->> 'client_id'
$$;
revoke execute on function private.token_client_id() from public;
grant execute on function private.token_client_id() to authenticated, service_role;

-- #############################################################################################
-- supabase/schemas/20_workspaces.sql
-- #############################################################################################

-- =============================================================================================
-- Workspaces: knowledge shared between users, with one role per member
-- =============================================================================================
-- Who may do what:
--   * A workspace and its member list are visible to its members.
--   * Anyone signed in may create one, and becomes its first owner.
--   * Only owners rename or delete it, and add, change or remove members; anyone may leave.
--   * Tokens with an OAuth `scope` claim get only what it grants (10_caller_token.sql).
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
-- Supabase grants everything in `public` to anon and authenticated; narrow that so a mistake in
-- a policy cannot widen access. anon has no privilege at all. Who created a workspace, and when,
-- is not the client's to write.
alter table public.workspaces enable row level security;
revoke all on public.workspaces from anon, authenticated;
grant select, delete on public.workspaces to authenticated;
grant insert (id, name) on public.workspaces to authenticated;
grant update (name) on public.workspaces to authenticated;

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
revoke all on public.workspace_members from anon, authenticated;
grant select, delete on public.workspace_members to authenticated;
grant insert (workspace_id, user_id, role) on public.workspace_members to authenticated;
grant update (role) on public.workspace_members to authenticated;

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

-- #############################################################################################
-- supabase/schemas/30_documents.sql
-- #############################################################################################

-- =============================================================================================
-- Documents: a unit of knowledge, its text, and whether its passages are embedded
-- =============================================================================================
-- Who may do what:
--   * A document is readable by its owner and by every member of its workspace.
--   * It is added by its owner, privately or into a workspace they own or edit; changed by its
--     owner and the workspace's owners and editors; viewers only read.
--   * An agent (a token with a `client_id`) deletes only documents it created, whatever scope
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

-- The hash is the text's when there is text, whatever a client sent: sha256 of the UTF-8 bytes,
-- hex, exactly as the edge computes it (knowledge_core.knowledge.content_hash). A document with
-- new text waits for passages (pending); one without text and without passages cannot be
-- searched, and says so (failed) until passages are written for it. Writing the same text again
-- over a failed document is how its owner asks for another try.
create function private.track_document_text()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.content is not null then
    new.content_hash := encode(sha256(convert_to(new.content, 'UTF8')), 'hex');
  end if;
  if tg_op = 'INSERT' then
    if new.content is not null then
      new.embedding_status := 'pending';
      new.embedding_error := null;
    else
      new.embedding_status := 'failed';
      new.embedding_error := 'the document has no text (content) and no passages yet';
    end if;
  elsif new.content is not null
        and (new.content_hash is distinct from old.content_hash or old.embedding_status = 'failed')
  then
    -- New text, or the same text written again after a failure: (re)embed it.
    new.embedding_status := 'pending';
    new.embedding_error := null;
  end if;
  return new;
end
$$;
revoke execute on function private.track_document_text() from public;

create trigger documents_track_text
  before insert or update of content, content_hash on public.documents
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

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies
-- ---------------------------------------------------------------------------------------------
-- Ownership, the creating agent, the status and the timestamps are not the client's to write.
-- content_hash stays writable for callers that write their passages themselves without text.
alter table public.documents enable row level security;
revoke all on public.documents from anon, authenticated;
grant select, delete on public.documents to authenticated;
grant insert (id, owner_id, workspace_id, title, source, category, metadata, content_hash,
  embedding_model, content) on public.documents to authenticated;
grant update (workspace_id, title, source, category, metadata, content_hash, content)
  on public.documents to authenticated;

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

-- People as above; an agent only what it created, so one agent cannot destroy what a person or
-- another agent wrote. (Postgres keeps the first 63 characters of the name.)
create policy "Owners and workspace editors can delete documents; agents only their own"
  on public.documents for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and (
      (select private.token_client_id()) is null
      or created_by_client = (select private.token_client_id())
    )
  );

-- #############################################################################################
-- supabase/schemas/40_document_chunks.sql
-- #############################################################################################

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
  if not found then
    raise foreign_key_violation using
      message = format('document %s does not exist', new.document_id),
      hint = 'Create the document before adding its chunks.';
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
revoke all on public.document_chunks from anon, authenticated;
grant select, delete on public.document_chunks to authenticated;
grant insert (document_id, chunk_index, content, embedding, location) on public.document_chunks
  to authenticated;
grant update (chunk_index, content, embedding, location) on public.document_chunks
  to authenticated;

-- Both arms of the OR are index conditions. `workspace_id in (select ...)` would be a hashed
-- SubPlan, which the planner can only apply as a filter: every RLS-restricted read of the
-- passages was a sequential scan of the whole table (a user owning 2,000 of 200,000 rows paid
-- 160 ms to count them). `= any (array(select ...))` is an InitPlan, run once per statement,
-- whose value the planner can use in an index condition: the caller's rows are found by a
-- BitmapOr of the owner and workspace indexes (12 ms). private.visible_keyword_ranking
-- (60_search_helpers.sql) writes this same rule into its statement and must stay it.
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

-- #############################################################################################
-- supabase/schemas/50_embedding_models.sql
-- #############################################################################################

-- =============================================================================================
-- Embedding models: one HNSW graph per model
-- =============================================================================================
-- Vectors of two models (all 384-d) are not comparable: in one shared graph their neighbourhoods
-- are unrelated islands, and a walk that starts in the big one can miss a minority model's rows
-- entirely. Each model gets its own partial HNSW index (`where embedding_model = '<model>'`),
-- which the planner uses for any search filtered on that model (match_documents writes the model
-- into its statement as a literal, so the index predicate is provably implied).
--
-- The registry lists every model that has rows (kept by a trigger on documents) and, for each,
-- its graph, if any. A model without a graph is still searched correctly, by an exact scan of the
-- caller's rows of that model (70_match_documents.sql).
--
-- Adding a model to a project is one step, run by the database owner (e.g. in a migration):
--   select private.add_embedding_model('my-model');            -- halfvec graph (default)
--   select private.add_embedding_model('my-model', 'vector');  -- float32 graph
-- Changing the project's model (re-embedding every document in the background):
--   select private.set_embedding_model('text-embedding-3-small');

create table private.embedding_models (
  model text primary key check (char_length(model) between 1 and 200),
  -- The partial HNSW index of this model's vectors; null: none yet, searches scan exactly.
  index_name text,
  -- What the graph holds: 'halfvec' (embedding::halfvec(384)) or 'vector' (float32).
  index_storage text check (index_storage in ('halfvec', 'vector')),
  registered_at timestamptz not null default now()
);
comment on table private.embedding_models is
  'Embedding models with rows in document_chunks, and the HNSW index of each (if built).';
-- Search functions run as the caller and read which models have a graph. Model names are project
-- configuration, not anyone's knowledge; nothing else in the table is user data.
grant select on private.embedding_models to authenticated, service_role;

-- Every model that has documents is listed, so a search without a model filter can search each
-- model's graph (or rows) separately and merge: one list, one rule.
create function private.register_embedding_model()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from private.embedding_models m where m.model = new.embedding_model) then
    insert into private.embedding_models (model) values (new.embedding_model)
    on conflict (model) do nothing;
  end if;
  return null;
end
$$;
revoke execute on function private.register_embedding_model() from public;

create trigger documents_register_embedding_model
  after insert or update of embedding_model on public.documents
  for each row execute function private.register_embedding_model();

-- ---------------------------------------------------------------------------------------------
-- The graphs of the models this project's edge embeds with by default (one per provider)
-- ---------------------------------------------------------------------------------------------
-- Named and shaped as private.add_embedding_model builds them ('document_chunks_hnsw_h' and the
-- first 15 hex digits of md5(model)); the migration that follows the baseline records them in
-- private.embedding_models through that function, which finds them by name.
-- m = 16 and ef_construction = 64 are pgvector's defaults and the right trade-off at 384
-- dimensions up to about a million rows: recall@10 above 0.95 with ef_search around 100, a graph
-- small enough to build in minutes and to fit in memory. halfvec: see add_embedding_model.
create index document_chunks_hnsw_h61365361820e9b9 on public.document_chunks
  using hnsw ((embedding::extensions.halfvec(384)) extensions.halfvec_cosine_ops)
  with (m = 16, ef_construction = 64) where embedding_model = 'all-MiniLM-L6-v2';
create index document_chunks_hnsw_hfb746bb3362fadf on public.document_chunks
  using hnsw ((embedding::extensions.halfvec(384)) extensions.halfvec_cosine_ops)
  with (m = 16, ef_construction = 64) where embedding_model = 'gte-small';
create index document_chunks_hnsw_h13252c7e49de68b on public.document_chunks
  using hnsw ((embedding::extensions.halfvec(384)) extensions.halfvec_cosine_ops)
  with (m = 16, ef_construction = 64) where embedding_model = 'text-embedding-3-small';

-- Build (or find) the HNSW graph of one model and record it. Idempotent. Runs as its caller, and
-- only the table's owner may create an index on it; execution is revoked from every API role.
--
-- storage 'halfvec' (the default) indexes `embedding::halfvec(384)`: half-precision copies of the
-- vectors in the graph, the table keeps float32. Measured here (bench section 7, 200k x 384): the
-- index is 43% smaller (223 vs 391 MB), builds as fast (246 vs 256 s), with the same recall@10
-- (0.99 vs exact float32) and no slower walks (c=1 p50 6.5 vs 11.4 ms). match_documents walks
-- the graph in half precision and orders the rows it found by their float32 distance.
-- storage 'vector' indexes the float32 vectors themselves, for those who prefer exact distances
-- inside the graph at twice the memory. Calling again with the other storage replaces the graph.
--
-- On a large live table, run the printed `create index concurrently` by hand first, then call
-- this function: it finds the index by name.
create function private.add_embedding_model(model text, storage text default 'halfvec')
returns text
language plpgsql
set search_path = ''
as $$
declare
  index_name text;
  previous text;
  definition text;
begin
  if model is null or char_length(model) not between 1 and 200 then
    raise exception 'model must be 1 to 200 characters' using errcode = '22023';
  end if;
  if storage is null or storage not in ('halfvec', 'vector') then
    raise exception 'storage must be halfvec or vector' using errcode = '22023';
  end if;
  index_name := 'document_chunks_hnsw_' || left(storage, 1) || left(md5(model), 15);
  definition := case storage
    when 'halfvec' then
      '((embedding::extensions.halfvec(384)) extensions.halfvec_cosine_ops)'
    else '(embedding extensions.vector_cosine_ops)'
  end;
  raise notice 'building %: create index concurrently % on public.document_chunks using hnsw % '
    'with (m = 16, ef_construction = 64) where embedding_model = %',
    index_name, index_name, definition, quote_literal(model);
  execute format(
    'create index if not exists %I on public.document_chunks using hnsw %s '
    'with (m = 16, ef_construction = 64) where embedding_model = %L',
    index_name, definition, model
  );
  select m.index_name into previous from private.embedding_models m where m.model = $1;
  if previous is not null and previous <> index_name then
    execute format('drop index if exists public.%I', previous);
  end if;
  insert into private.embedding_models as m (model, index_name, index_storage)
  values ($1, index_name, $2)
  on conflict on constraint embedding_models_pkey
  do update set index_name = excluded.index_name, index_storage = excluded.index_storage;
  return index_name;
end
$$;
revoke execute on function private.add_embedding_model(text, text)
  from public, anon, authenticated, service_role;
comment on function private.add_embedding_model(text, text) is
  'Give an embedding model its own HNSW graph (database owner only). Returns the index name.';

-- ---------------------------------------------------------------------------------------------
-- Changing the project's model: re-embed every document in the background
-- ---------------------------------------------------------------------------------------------
-- Records the project's new model, gives it its own graph, and queues every document that has
-- text and passages of another model. Workers running the new model then re-embed them; a worker
-- of another model leaves them alone. Each document keeps its old passages, searchable with the
-- old model, until its new passages are complete; then complete_embedding_work swaps them in one
-- transaction. So searches never fail and never mix models: a search with the old model finds
-- the documents not yet migrated, one with the new model those already done. Documents without
-- stored text cannot be re-embedded from source: they keep their passages and are counted in a
-- notice.
create function private.set_embedding_model(model text, storage text default 'halfvec')
returns integer
language plpgsql
set search_path = ''
as $$
declare
  queued integer;
  without_text integer;
begin
  if model is null or char_length(model) not between 1 and 200 then
    raise exception 'model must be 1 to 200 characters' using errcode = '22023';
  end if;
  update private.project_settings s set embedding_model = model, updated_at = now();
  perform private.add_embedding_model(model, storage);

  -- Marking a document pending queues it for the project's (new) model (queue_embedding); its
  -- passages stay in place and searchable meanwhile.
  update public.documents d
     set embedding_status = 'pending', embedding_error = null
   where d.embedding_model <> model
     and d.content is not null;
  get diagnostics queued = row_count;
  -- Documents already waiting (for the old model) wait for the new one instead.
  update private.embedding_queue q
     set model = set_embedding_model.model, attempts = 0, not_before = now(),
         lease_token = null, leased_by = null, lease_expires_at = null
   where q.model <> set_embedding_model.model;
  perform pg_notify('kb_embedding_work', model);

  select count(*) into without_text
    from public.documents d
   where d.embedding_model <> model and d.content is null;
  if without_text > 0 then
    raise notice '% documents have no stored text and keep their % passages', without_text,
      'old model''s';
  end if;
  return queued;
end
$$;
revoke execute on function private.set_embedding_model(text, text)
  from public, anon, authenticated, service_role;
comment on function private.set_embedding_model(text, text) is
  'Change the project''s embedding model and queue every document for re-embedding (owner only).';

-- #############################################################################################
-- supabase/schemas/60_search_helpers.sql
-- #############################################################################################

-- =============================================================================================
-- Search helpers: argument checks, the filters as SQL, and how a search is planned
-- =============================================================================================
-- match_documents and hybrid_search run as the caller: RLS decides every row they return. These
-- helpers decide only how the rows are found (an exact scan of the caller's rows, a walk of an
-- HNSW graph, the full-text index); a wrong choice costs time, never rows.

-- ---------------------------------------------------------------------------------------------
-- Arguments
-- ---------------------------------------------------------------------------------------------
-- Raised with SQLSTATE 22023 (invalid_parameter_value), which PostgREST answers with 400 and the
-- message intact, naming the argument. Runs before any row is read.
create function private.check_search_arguments(
  query_embedding extensions.vector,
  match_count integer,
  filter jsonb,
  match_threshold double precision,
  filter_category text
)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if query_embedding is null then
    raise exception 'query_embedding is required' using errcode = '22023';
  end if;
  -- Function arguments drop their typmod, so vector(384) alone would not reject other sizes.
  if extensions.vector_dims(query_embedding) <> 384 then
    raise exception 'query_embedding must have 384 dimensions, not %',
      extensions.vector_dims(query_embedding)
      using errcode = '22023';
  end if;
  if match_count is not null and (match_count < 1 or match_count > 1000) then
    raise exception 'match_count must be between 1 and 1000, not %', match_count
      using errcode = '22023';
  end if;
  if filter is not null and jsonb_typeof(filter) <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match, not a JSON %',
      jsonb_typeof(filter)
      using errcode = '22023',
            hint = 'Example: {"lang": "en"} matches documents whose metadata contains it.';
  end if;
  if match_threshold is not null
     and (match_threshold = 'NaN'::double precision or match_threshold < -1 or match_threshold > 1) then
    raise exception 'match_threshold must be a similarity between -1 and 1, not %', match_threshold
      using errcode = '22023';
  end if;
  if char_length(filter_category) > 100 then
    raise exception 'filter_category is longer than 100 characters' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_search_arguments from public;
grant execute on function private.check_search_arguments to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The filters as SQL, written once
-- ---------------------------------------------------------------------------------------------
-- The searches build their statements from the filters given and run them with EXECUTE, so each
-- is planned with the real values (a cached generic plan of `filter is null or ...` cannot see
-- which filters are unused, misjudges them, and trades the HNSW walk for a full sort).
-- Parameters by position in every statement that uses it: $2 filter (jsonb containment on
-- metadata), $3 filter_category, $4 filter_workspace_id. The model is left to the caller of this
-- function: the HNSW walk needs it as a literal in the same WHERE, the exact scan outside its
-- subquery (see match_documents). Returns SQL text only; it reads nothing.
create function private.search_conditions(
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid
)
returns text
language sql
immutable
set search_path = ''
as $$
  select concat_ws(' and ',
    'true',
    case when filter is not null and filter <> '{}'::jsonb then 'c.metadata @> $2' end,
    case when filter_category is not null then 'c.category = $3' end,
    case when filter_workspace_id is not null then 'c.workspace_id = $4' end)
$$;
revoke execute on function private.search_conditions(jsonb, text, uuid) from public;
grant execute on function private.search_conditions(jsonb, text, uuid)
  to authenticated, service_role;

-- The model condition as a literal (the planner must see the value to match a model's partial
-- HNSW index and the model column of the scope indexes); 'true' without a model filter.
create function private.model_condition(filter_embedding_model text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when filter_embedding_model is null then 'true'
              else format('c.embedding_model = %L', filter_embedding_model) end
$$;
revoke execute on function private.model_condition(text) from public;
grant execute on function private.model_condition(text) to authenticated, service_role;

-- The distance a graph of this storage orders by (what lets the planner walk it).
create function private.graph_distance(storage text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case storage
    when 'halfvec' then
      '(c.embedding::extensions.halfvec(384)) operator(extensions.<=>) ($1::extensions.halfvec(384))'
    else 'c.embedding operator(extensions.<=>) $1'
  end
$$;
revoke execute on function private.graph_distance(text) from public;
grant execute on function private.graph_distance(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Few or many: the switch point between an exact scan and the HNSW walk
-- ---------------------------------------------------------------------------------------------
-- Measured on this 2-core machine (200k synthetic 384-d rows of one model, HNSW 16/64, ef_search
-- 100, relaxed iterative scan, as each owner under RLS, 60 queries, warm, while other work shared
-- the cores; bench section 7 repeats the sweep at the largest size):
--     caller's rows      20     200    2,000   20,000   177,780
--     exact p50 ms     0.28    0.64     6.91    62.69    304.49
--     walk  p50 ms      264     246      105     20.9      11.3   (recall 0.19 / 0.84 / .99 / .97 / 1)
-- The exact scan costs ~3.2 us per row the caller may see; the walk ~9 ms plus ~0.96 ms per
-- 1/share (the rows of the model it steps over per row of the caller's). They cross where
-- 3.2e-3 * v = 9 + 0.96 * T / v, close to v = sqrt(300 * T): ~7,700 rows in a 200k-row graph,
-- ~17,000 in 1M. So a caller sees "few" below sqrt(300 * T) of the model's rows (at least
-- 1,000), T being the size of the model's graph as its index last counted it (all graphs
-- without a model filter; 0 for a model without a graph: its rows are scanned exactly either
-- way).
create function private.exact_scan_limit(for_model text)
returns integer
language sql
stable
set search_path = ''
as $$
  select greatest(1000, ceil(sqrt(300 * coalesce(sum(greatest(i.reltuples, 0)), 0))))::integer
  from private.embedding_models m
  join pg_catalog.pg_class i
    on i.relname = m.index_name and i.relnamespace = 'public'::regnamespace
  where m.model = for_model or for_model is null
$$;
revoke execute on function private.exact_scan_limit(text) from public;
grant execute on function private.exact_scan_limit(text) to authenticated, service_role;

-- The share of the table's rows in some of the caller's scopes, by the table's statistics: the
-- frequency of their id among owner_id's most common values (when `own`), plus those of the
-- given workspaces they belong to (null: all of them) among workspace_id's; 0 for scopes in
-- neither list (then the statistics know nothing of them). Own rows in those workspaces count
-- twice, at most doubling it. A caller who owns many rows (or belongs to a workspace that holds
-- them) is among the most common values, with their share: the statistics answer "many" at no
-- cost where a count would read up to the switch point (17,321 index entries at 1M rows, 3-5 ms
-- of a 15 ms budget, measured as the 100% caller of bench section 7).
-- security definer: pg_stats shows a column's statistics only to those who may read the column
-- itself, and the caller may not read everyone's rows.
-- plpgsql, not sql: its query (over the pg_stats view) is planned once per session, not per call
-- (planning it cost more than running it).
create function private.share_from_statistics(own boolean, workspaces uuid[])
returns double precision
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  return (
    select least(1, coalesce(sum(m.share), 0))
    from pg_catalog.pg_stats s
    cross join lateral unnest(s.most_common_vals::text::text[], s.most_common_freqs)
      as m (value, share)
    where s.schemaname = 'public' and s.tablename = 'document_chunks'
      and s.attname in ('owner_id', 'workspace_id')
      and (
        (own and s.attname = 'owner_id' and m.value = (select auth.uid())::text)
        or (s.attname = 'workspace_id'
            and m.value in (select w::text
                            from private.caller_workspace_ids('{owner,editor,viewer}') w
                            where workspaces is null or w = any (workspaces)))));
end
$$;
revoke execute on function private.share_from_statistics(boolean, uuid[]) from public;
grant execute on function private.share_from_statistics(boolean, uuid[])
  to authenticated, service_role;

-- How many of a model's rows the caller may see in some of their scopes, counted up to `cap`:
-- their own rows (when `own`; within `in_workspace` when given), then rows others own in the
-- given workspaces they belong to (null: all of them; within `in_workspace` when given). It
-- counts only rows the chunks' select policy shows the caller.
-- Scopes the statistics put above four times `cap` (their shares times the model's share when
-- a model is given, times the table's rows) answer `cap` without counting. Otherwise each count
-- is an index-only scan of the (owner_id, embedding_model) or (workspace_id, embedding_model)
-- index, stopped at `cap`: its cost is bounded whatever the size of the table, and a small
-- caller's count stops at their own rows, so it is cheap where it matters. Wrong statistics (a
-- big delete not yet analysed, an owner whose rows are all of another model) can only send a
-- caller to the HNSW walk, which answers with an exact scan when it brings back fewer than k
-- rows: time, never rows.
-- security definer so the counts are index-only scans, which RLS's per-row check would turn into
-- heap visits. Built with only the filters given and run with EXECUTE (planned with the real
-- values), so each count has every condition in the index.
create function private.bounded_row_count(
  model text,
  in_workspace uuid,
  cap integer,
  own boolean default true,
  only_workspaces uuid[] default null
)
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  workspaces uuid[] := array(
    select w from private.caller_workspace_ids('{owner,editor,viewer}') w
    where (in_workspace is null or w = in_workspace)
      and (only_workspaces is null or w = any (only_workspaces)));
  scope_filter text := '';
  counted integer := 0;
begin
  if model is not null then
    scope_filter := scope_filter || format(' and c.embedding_model = %L', model);
  end if;
  if in_workspace is not null then
    scope_filter := scope_filter || format(' and c.workspace_id = %L::uuid', in_workspace);
  end if;
  -- The model's rows by the statistics: the table's, times the model's share when one is given
  -- (0 for a model outside embedding_model's most common values: a small one).
  if private.share_from_statistics(own and in_workspace is null, workspaces) * (
    select max(t.reltuples) * case when model is null then 1 else coalesce(max(m.share), 0) end
    from pg_catalog.pg_class t
    left join pg_catalog.pg_stats s
      on s.schemaname = 'public' and s.tablename = 'document_chunks'
     and s.attname = 'embedding_model'
    left join lateral unnest(s.most_common_vals::text::text[], s.most_common_freqs)
      as m (value, share) on m.value = model
    where t.oid = 'public.document_chunks'::regclass
  ) > 4.0 * cap then
    return cap;
  end if;
  -- Own rows first; the workspaces' only if those did not reach the cap already.
  if own then
    execute format(
      'select count(*)::integer from (select 1 from public.document_chunks c '
      'where c.owner_id = $1 %s limit $2) own', scope_filter)
      into counted
      using caller, cap;
  end if;
  if counted < cap and cardinality(workspaces) > 0 then
    execute format(
      'select $3 + count(*)::integer from (select 1 from public.document_chunks c '
      'where c.workspace_id = any ($1) and c.owner_id <> $2 %s limit $4 - $3) shared',
      scope_filter)
      into counted
      using workspaces, caller, counted, cap;
  end if;
  return counted;
end
$$;
revoke execute on function private.bounded_row_count(text, uuid, integer, boolean, uuid[])
  from public;
grant execute on function private.bounded_row_count(text, uuid, integer, boolean, uuid[])
  to authenticated, service_role;

-- Every scope of the caller, counted up to `cap`.
create function private.visible_chunk_estimate(
  model text,
  in_workspace uuid,
  cap integer
)
returns integer
language sql
stable
set search_path = ''
as $$
  select private.bounded_row_count(model, in_workspace, cap)
$$;
revoke execute on function private.visible_chunk_estimate(text, uuid, integer) from public;
grant execute on function private.visible_chunk_estimate(text, uuid, integer)
  to authenticated, service_role;

-- Whether the caller sees fewer of the model's rows than the switch point. Null when RLS does not
-- apply to the caller (postgres, service_role see all).
create function private.search_sees_few_chunks(for_model text, in_workspace uuid)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
declare
  switch_rows integer := private.exact_scan_limit(for_model);
begin
  if not row_security_active('public.document_chunks') then
    return null;
  end if;
  return private.visible_chunk_estimate(for_model, in_workspace, switch_rows) < switch_rows;
end
$$;
revoke execute on function private.search_sees_few_chunks(text, uuid) from public;
grant execute on function private.search_sees_few_chunks(text, uuid) to authenticated, service_role;

-- How wide the HNSW walk looks (hnsw.ef_search) for a caller who sees "many" rows. A walk keeps
-- the ef_search nearest candidates it meets; of those, only the caller's rows count, so a caller
-- who sees a tenth of the graph has a tenth of the candidates. Measured here (bench section 7's
-- table, 1M rows, halfvec graph, 20 queries, recall@10 against the exact answer, as the caller):
--     caller sees 100%:  ef 40 -> 0.970   ef 100 -> 0.985 ( 8.8 ms p50)   ef 200 -> 1.000 (13.3 ms)
--     caller sees  10%:  ef 40 -> 0.905   ef 100 -> 0.940 (11.1 ms p50)   ef 200 -> 0.955 (14.9 ms)
--                                         ef 400 -> 0.985 (37.1 ms p50)
-- So 100 for a caller who sees at least half of the table, 200 below that (callers below the
-- switch point are scanned exactly: they never walk).
create function private.walk_ef_search(in_workspace uuid)
returns integer
language sql
stable
set search_path = ''
as $$
  select case when not row_security_active('public.document_chunks')
                or private.share_from_statistics(in_workspace is null, case
                     when in_workspace is not null then array[in_workspace] end) >= 0.5
              then 100 else 200 end
$$;
revoke execute on function private.walk_ef_search(uuid) from public;
grant execute on function private.walk_ef_search(uuid) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The keyword ranking through the full-text index, for callers RLS restricts
-- ---------------------------------------------------------------------------------------------
-- Why a security definer step: `tsvector @@ tsquery` is not leakproof, so under RLS Postgres must
-- test the policy on a row before the full-text condition, and cannot use the GIN index on fts to
-- find the matches: every hybrid search of a caller who sees many rows read all of them
-- (measured: 440-610 ms at 200k rows for a 10% or 100% caller; bench section 7). Marking `@@`
-- leakproof takes a superuser, which hosted Supabase does not give.
--
-- So the ranking runs as the table's owner, with the chunks' read policy written into the
-- statement as plain conditions the planner can combine with the full-text index (a BitmapAnd of
-- the GIN index and the owner / workspace indexes, or the GIN index alone when the caller sees
-- most rows): the caller's own rows, or rows of workspaces they belong to in any role, and only
-- if their token allows 'knowledge:read'. That is the SELECT policy of document_chunks
-- (40_document_chunks.sql) and must stay it: tests/database/test_keyword_ranking.py compares this
-- function's answer with the same ranking run as the caller under RLS, for every caller of the
-- RLS matrix.
--
-- What it may reveal: ids, in rank order, of rows the caller may read anyway; nothing of any
-- other row, whoever calls it and with whatever arguments (the filters narrow, never widen).
-- hybrid_search reads the ranked rows again as the caller, so RLS still has the last word on
-- every row it returns. Granted to authenticated only: the policy is written for that role (anon
-- has none and sees no chunk; service_role and postgres bypass RLS and use the index directly).

-- The statement both paths run: ids of the rows matching $1, in rank order (ties by id), at most
-- $5. `visible_only` adds the read policy's conditions on $6 (the caller's id) and $7 (their
-- workspaces).
create function private.keyword_ranking_statement(
  conditions text,
  filter_embedding_model text,
  visible_only boolean
)
returns text
language sql
immutable
set search_path = ''
as $$
  select format($sql$
    select coalesce(array_agg(r.id order by r.rank desc, r.id), '{}')
    from (
      select c.id, ts_rank_cd(c.fts, $1) as rank
      from public.document_chunks c
      where c.fts @@ $1 and %s and %s and %s
      order by rank desc, c.id
      limit $5
    ) r
  $sql$,
    conditions,
    private.model_condition(filter_embedding_model),
    case when visible_only then '(c.owner_id = $6 or c.workspace_id = any ($7))' else 'true' end)
$$;
revoke execute on function private.keyword_ranking_statement(text, text, boolean) from public;
grant execute on function private.keyword_ranking_statement(text, text, boolean)
  to authenticated, service_role;

create function private.visible_keyword_ranking(
  keywords tsquery,
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid,
  filter_embedding_model text,
  how_many integer
)
returns bigint[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  ranked bigint[];
begin
  if caller is null or not private.token_allows('knowledge:read') then
    return '{}';
  end if;
  -- Run with EXECUTE so it is planned with the caller's id and workspaces as values: the
  -- planner then knows how many rows the owner condition picks (few: BitmapAnd with the owner
  -- index; most of the table: the full-text index alone).
  execute private.keyword_ranking_statement(
    private.search_conditions(filter, filter_category, filter_workspace_id),
    filter_embedding_model,
    true)
    into ranked
    using keywords, filter, filter_category, filter_workspace_id,
          least(greatest(how_many, 0), 400),  -- hybrid_search asks for 2 x match_count <= 400
          caller,
          array(select private.caller_workspace_ids('{owner,editor,viewer}'));
  return ranked;
end
$$;
revoke execute on function private.visible_keyword_ranking(tsquery, jsonb, text, uuid, text, integer)
  from public;
grant execute on function private.visible_keyword_ranking(tsquery, jsonb, text, uuid, text, integer)
  to authenticated;

-- #############################################################################################
-- supabase/schemas/65_scope_graphs.sql
-- #############################################################################################

-- =============================================================================================
-- Scope graphs: a graph of their own for the few tenants too big to scan and too small to walk
-- =============================================================================================
-- match_documents scans a caller's rows exactly below the switch point and walks the model's
-- graph above it. Near the switch point neither is cheap, and at 1M rows the gap is wide: a
-- tenant owning 1% (10,000 rows) paid 42 ms p50 for the exact scan (~4 us per row, each on its
-- own heap page) and would pay ~100 ms for the walk, which steps over 99 other rows for each of
-- theirs (bench section 7, README "Tenant sweep").
--
-- A scope graph is a partial HNSW index over one owner's (or one workspace's) rows of one model:
-- `where owner_id = '<id>' and embedding_model = '<model>'`. Walking it costs what a walk of a
-- graph of that size costs, and every row in it is one the owner (or every member of the
-- workspace) may see. Only the biggest tenants need one (see scopes_needing_a_graph for how
-- many), so the planner's per-query cost of considering partial indexes stays small.
--
-- Like a model's graph, one step run by the database owner (e.g. from a scheduled job):
--   select private.add_scope_graph(owner_id => '<user id>', model => 'all-MiniLM-L6-v2');
--   select private.add_scope_graph(workspace_id => '<workspace id>', model => '...');
--   select * from private.scopes_needing_a_graph();   -- big tenants without one
--   select private.drop_scope_graph(owner_id => '<user id>', model => '...');

create table private.scope_graphs (
  owner_id uuid,
  workspace_id uuid,
  model text not null,
  index_name text not null unique,
  index_storage text not null check (index_storage in ('halfvec', 'vector')),
  created_at timestamptz not null default now(),
  -- One scope: an owner's rows, or a workspace's.
  check ((owner_id is null) <> (workspace_id is null)),
  constraint scope_graphs_scope_key unique nulls not distinct (owner_id, workspace_id, model)
);
comment on table private.scope_graphs is
  'Partial HNSW indexes over one owner''s or one workspace''s rows of a model.';
-- No grants: which tenants are big is nobody else's business. The search reads it through
-- private.scope_graph_walk, which shows a caller their own scopes only.

create function private.add_scope_graph(
  model text,
  owner_id uuid default null,
  workspace_id uuid default null,
  storage text default 'halfvec'
)
returns text
language plpgsql
set search_path = ''
as $$
declare
  scope text;
  index_name text;
  previous text;
begin
  if model is null or char_length(model) not between 1 and 200 then
    raise exception 'model must be 1 to 200 characters' using errcode = '22023';
  end if;
  if (owner_id is null) = (workspace_id is null) then
    raise exception 'give exactly one of owner_id and workspace_id' using errcode = '22023';
  end if;
  if storage is null or storage not in ('halfvec', 'vector') then
    raise exception 'storage must be halfvec or vector' using errcode = '22023';
  end if;
  scope := case when owner_id is not null then format('owner_id = %L', owner_id)
                else format('workspace_id = %L', workspace_id) end;
  index_name := 'document_chunks_hnsw_s' || left(storage, 1)
                || left(md5(coalesce(owner_id, workspace_id)::text || model), 15);
  execute format(
    'create index if not exists %I on public.document_chunks using hnsw (%s) '
    'with (m = 16, ef_construction = 64) where %s and embedding_model = %L',
    index_name,
    case storage
      when 'halfvec' then '(embedding::extensions.halfvec(384)) extensions.halfvec_cosine_ops'
      else 'embedding extensions.vector_cosine_ops'
    end,
    scope, model);
  select g.index_name into previous from private.scope_graphs g
  where g.owner_id is not distinct from $2 and g.workspace_id is not distinct from $3
    and g.model = $1;
  if previous is not null and previous <> index_name then
    execute format('drop index if exists public.%I', previous);
  end if;
  insert into private.scope_graphs as g (owner_id, workspace_id, model, index_name, index_storage)
  values ($2, $3, $1, index_name, $4)
  on conflict on constraint scope_graphs_scope_key
  do update set index_name = excluded.index_name, index_storage = excluded.index_storage;
  return index_name;
end
$$;
revoke execute on function private.add_scope_graph(text, uuid, uuid, text)
  from public, anon, authenticated, service_role;
comment on function private.add_scope_graph(text, uuid, uuid, text) is
  'Give one owner''s or workspace''s rows of a model their own HNSW graph (database owner only).';

create function private.drop_scope_graph(
  model text,
  owner_id uuid default null,
  workspace_id uuid default null
)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
  dropped text;
begin
  delete from private.scope_graphs g
  where g.owner_id is not distinct from $2 and g.workspace_id is not distinct from $3
    and g.model = $1
  returning g.index_name into dropped;
  if dropped is not null then
    execute format('drop index if exists public.%I', dropped);
  end if;
  return dropped is not null;
end
$$;
revoke execute on function private.drop_scope_graph(text, uuid, uuid)
  from public, anon, authenticated, service_role;

-- Owners and workspaces with at least `min_chunks` rows of a model (default: half the switch
-- point), less than half of the model's rows, and no graph yet: what a scheduled job would pass
-- to add_scope_graph. A walk of a tenant's own graph beats an exact scan of their rows from a few
-- thousand rows up (bench section 7: 10,000 rows at 1M, 42 ms exact), so the default reaches
-- below the switch point; it still leaves at most 2 x (rows / switch point) graphs, ~115 at 1M
-- rows, each costing the planner a predicate test per search and each insert into that tenant a
-- second graph update. Reads every tenant's size: owner only.
create function private.scopes_needing_a_graph(min_chunks integer default null)
returns table (owner_id uuid, workspace_id uuid, model text, chunks bigint)
language sql
stable
set search_path = ''
as $$
  with owners as (
    select c.owner_id, c.embedding_model as model, count(*) as chunks
    from public.document_chunks c group by c.owner_id, c.embedding_model
  ),
  models as (select o.model, sum(o.chunks) as chunks from owners o group by o.model),
  scopes as (
    select o.owner_id, null::uuid as workspace_id, o.model, o.chunks from owners o
    union all
    select null, c.workspace_id, c.embedding_model, count(*)
    from public.document_chunks c where c.workspace_id is not null
    group by c.workspace_id, c.embedding_model
  )
  select s.owner_id, s.workspace_id, s.model, s.chunks
  from scopes s
  join models m on m.model = s.model
  where s.chunks >= coalesce(min_chunks, private.exact_scan_limit(s.model) / 2)
    -- A scope holding most of a model is served by the model's graph already.
    and s.chunks * 2 < m.chunks
    and not exists (
      select 1 from private.scope_graphs g
      where g.owner_id is not distinct from s.owner_id
        and g.workspace_id is not distinct from s.workspace_id and g.model = s.model)
  order by s.chunks desc
$$;
revoke execute on function private.scopes_needing_a_graph(integer)
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The walk over a caller's scope graphs, for match_documents
-- ---------------------------------------------------------------------------------------------
-- Returns the statement (parts joined by `union all`, each giving (id, float32 distance) of at
-- most $5 rows, parameters as in match_documents), or null when the caller has no scope graph for
-- the model, or has `cap` rows or more outside their scope graphs (then the model's graph serves
-- them better). The parts:
--   * a walk of each of their scope graphs: their own, and those of workspaces they belong to;
--   * an exact scan of their visible rows in no such graph (their own rows when they have no
--     graph, rows of their other workspaces), counted first and bounded by `cap`.
-- A row can come from two parts (an own row in a workspace with a graph); the caller merges by
-- id. Every part runs as the caller under RLS: this function only writes SQL, with the caller's
-- own id and workspaces in it. security definer to read private.scope_graphs; the rows outside
-- the graphs are counted by private.bounded_row_count. Counting them in one statement with an OR
-- of both kinds of scope let the planner read the table itself: 24 ms for a caller owning 89% of
-- 1M rows, who then walked the model's graph anyway (bench section 7).
create function private.scope_graph_walk(
  model text,
  in_workspace uuid,
  where_clause text,
  cap integer
)
returns text
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  workspaces uuid[];
  own_storage text;
  graphed uuid[];
  storages text[];
  ungraphed uuid[];
  outside text[] := '{}';
  remainder integer := 0;
  parts text[] := '{}';
begin
  if caller is null or model is null or not private.token_allows('knowledge:read') then
    return null;
  end if;
  workspaces := array(
    select w from private.caller_workspace_ids('{owner,editor,viewer}') w
    where in_workspace is null or w = in_workspace);
  if in_workspace is null then
    select g.index_storage into own_storage from private.scope_graphs g
    where g.owner_id = caller and g.model = scope_graph_walk.model;
  end if;
  select array_agg(g.workspace_id), array_agg(g.index_storage) into graphed, storages
  from private.scope_graphs g
  where g.workspace_id = any (workspaces) and g.model = scope_graph_walk.model;
  if own_storage is null and graphed is null then
    return null;
  end if;

  -- Rows outside the graphs: own rows (when there is no own graph), and rows others own in
  -- workspaces without a graph; counted up to `cap` (index-only, or by the statistics).
  ungraphed := array(select w from unnest(workspaces) w where w <> all (coalesce(graphed, '{}')));
  if own_storage is null and in_workspace is null then
    outside := outside || format('c.owner_id = %L', caller);
  end if;
  if cardinality(ungraphed) > 0 then
    outside := outside || format('(c.workspace_id = any (%L::uuid[]) and c.owner_id <> %L)',
      ungraphed, caller);
  end if;
  if cardinality(outside) > 0 then
    remainder := private.bounded_row_count(
      model, in_workspace, cap, own_storage is null and in_workspace is null, ungraphed);
    if remainder >= cap then
      return null;
    end if;
  end if;

  if own_storage is not null then
    parts := parts || format(
      '(select c.id, c.embedding operator(extensions.<=>) $1 as distance '
      'from public.document_chunks c where %s and c.owner_id = %L order by %s limit $5)',
      where_clause, caller, private.graph_distance(own_storage));
  end if;
  for i in 1 .. coalesce(cardinality(graphed), 0) loop
    parts := parts || format(
      '(select c.id, c.embedding operator(extensions.<=>) $1 as distance '
      'from public.document_chunks c where %s and c.workspace_id = %L order by %s limit $5)',
      where_clause, graphed[i], private.graph_distance(storages[i]));
  end loop;
  if remainder > 0 then
    -- `offset 0`: the rows are found by the scope conditions, then ordered (match_documents'
    -- exact scan, and its reason).
    parts := parts || format(
      '(select c.id, c.embedding operator(extensions.<=>) $1 as distance '
      'from (select * from public.document_chunks c where %s offset 0) c '
      'where %s order by 2, 1 limit $5)',
      array_to_string(outside, ' or '), where_clause);
  end if;
  return array_to_string(parts, ' union all ');
end
$$;
revoke execute on function private.scope_graph_walk(text, uuid, text, integer) from public;
grant execute on function private.scope_graph_walk(text, uuid, text, integer)
  to authenticated, service_role;

-- #############################################################################################
-- supabase/schemas/70_match_documents.sql
-- #############################################################################################

-- =============================================================================================
-- match_documents: semantic search over the passages the caller may read
-- =============================================================================================
-- One signature serves LangChain's SupabaseVectorStore (Python sends `query_embedding` and
-- `filter` and chains `.limit(k)`; JS also sends `match_count`), LlamaIndex and plain supabase-py.
-- It returns a table, so PostgREST callers can filter, select and limit on top of it.
--
-- It runs as the caller (security invoker): RLS decides every row any plan returns. The plan
-- follows the caller's rows, not the size of the table (60_search_helpers.sql has the switch
-- point and its measurements):
--   * scope graphs: a caller whose rows are in graphs of their own (an owner's or a workspace's,
--     65_scope_graphs.sql) walks those, plus an exact scan of their few rows outside them;
--   * exact: a caller who sees few rows reads them (RLS through the owner / workspace indexes,
--     which carry the model) and sorts them by distance; cost grows with the caller's rows only;
--   * walk: otherwise the model's HNSW graph (one per model: 50_embedding_models.sql), with
--     iterative scans, RLS and the filters checked on each candidate, as wide as the caller's
--     share of the graph needs (private.walk_ef_search). Cost grows with how many *other* rows
--     the walk steps over, and pgvector stops after hnsw.max_scan_tuples (20,000) candidates.
-- If a walk brings back fewer than match_count rows (selective filters, the scan limit, or a
-- model without a graph), the exact scan answers instead, so the caller always gets
-- min(match_count, rows they may see that pass the filters), in the same order whatever the
-- plan. Callers RLS does not apply to (postgres, service_role) walk first.
-- relaxed_order gives the better recall of pgvector's two iterative modes; the rows found are
-- then ordered exactly by their float32 distance.
--
-- Not `language sql` on purpose: the SET clauses (search_path, hnsw.*) stop inlining anyway, and
-- plpgsql lets bad arguments fail with a clear message before any row is read. Each statement is
-- built with only the filters given and run with EXECUTE, so it is planned with the real values
-- every time.
create function public.match_documents(
  query_embedding extensions.vector(384),
  match_count integer default null,
  filter jsonb default '{}',
  match_threshold double precision default null,
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null
)
returns table (
  id bigint,
  content text,
  metadata jsonb,
  similarity double precision,
  document_id uuid,
  chunk_index integer,
  title text,
  source text,
  category text,
  workspace_id uuid,
  embedding_model text
)
language plpgsql
stable
set search_path = ''
set hnsw.iterative_scan = 'relaxed_order'
set hnsw.ef_search = '100'
set enable_seqscan from current
as $$
declare
  k integer := coalesce(match_count, 1000);
  where_clause text;
  scope_clause text;
  model_clause text;
  few boolean;
  walk_sql text;
  found bigint[];
begin
  perform private.check_search_arguments(
    query_embedding, match_count, filter, match_threshold, filter_category
  );

  -- The filters, planned with their real values (20261203000100); the model as a literal, so
  -- the planner matches the model's partial HNSW index. The exact scan reads the caller's rows
  -- with the model tested after (see there).
  scope_clause := private.search_conditions(filter, filter_category, filter_workspace_id);
  model_clause := private.model_condition(filter_embedding_model);
  where_clause := scope_clause || ' and ' || model_clause;

  -- A caller with graphs of their own (20261203000500) walks those, whatever their size: every
  -- row in them is one they may see (so the default width is enough), and a walk of a graph of
  -- their rows costs less than an exact scan of them from a few thousand rows up. Others: an
  -- exact scan of their rows if few, the model's graph if many.
  if row_security_active('public.document_chunks') then
    walk_sql := private.scope_graph_walk(
      filter_embedding_model, filter_workspace_id, where_clause,
      private.exact_scan_limit(filter_embedding_model));
  end if;
  if walk_sql is null then
    few := private.search_sees_few_chunks(filter_embedding_model, filter_workspace_id);
  end if;

  if few is distinct from true and walk_sql is null then
    -- As wide as the caller's share of the graph needs (20261203000400); `set hnsw.ef_search`
    -- above restores the setting when the function ends.
    perform set_config('hnsw.ef_search', private.walk_ef_search(filter_workspace_id)::text, true);
    -- The walk of the model's graph. Without a model filter, each model's graph is walked on
    -- its own (a model without a graph is scanned exactly) and the candidates merged: one graph
    -- never mixes two models.
    -- Each branch orders by the distance expression its model's graph indexes (half precision
    -- for a halfvec graph: 20261201000300): that is what lets the planner walk the graph. The
    -- rows found are then ordered by their float32 distance, below.
    select string_agg(format($sql$
        (select c.id, %2$s as distance
         from public.document_chunks c
         where %1$s and c.embedding_model = %3$L
         order by %2$s
         limit $5)$sql$,
        where_clause,
        private.graph_distance(g.index_storage),
        g.model), ' union all ')
      into walk_sql
    from (
      select r.model, r.index_storage
      from private.embedding_models r
      where filter_embedding_model is null
      union all
      select filter_embedding_model,
             (select r.index_storage from private.embedding_models r
              where r.model = filter_embedding_model)
      where filter_embedding_model is not null
    ) g;
  end if;
  if walk_sql is not null then
    -- The candidates of every part, nearest first; a row two parts found counts once.
    execute format(
      'select coalesce(array_agg(w.id order by w.distance, w.id), %L) '
      'from (select n.id, min(n.distance) as distance from (%s) n '
      '      group by n.id order by 2, 1 limit $5) w',
      '{}', walk_sql)
      into found
      using query_embedding, filter, filter_category, filter_workspace_id, k;
    if cardinality(found) >= k then
      -- The rows are already chosen (and RLS-checked); fetch them as the caller again, in order.
      return query
      select c.id, c.content, c.metadata, 1 - (c.embedding operator(extensions.<=>) query_embedding),
             c.document_id, c.chunk_index, d.title, d.source, c.category, c.workspace_id,
             c.embedding_model
      from unnest(found) as f (id)
      join public.document_chunks c on c.id = f.id
      join public.documents d on d.id = c.document_id
      where match_threshold is null
         or 1 - (c.embedding operator(extensions.<=>) query_embedding) >= match_threshold
      order by c.embedding operator(extensions.<=>) query_embedding, c.id;
      return;
    end if;
  end if;

  -- The exact scan. `offset 0` keeps the caller's rows a subquery the planner may not merge into
  -- the ORDER BY: it reads them, then sorts, and cannot trade that for an index walk. The
  -- threshold applies after the top k, as before (it is a prefix of the order).
  -- The model is tested outside the subquery: inside, `embedding_model = ...` alone would let the
  -- planner read the model's rows through the second column of a scope index and filter them by
  -- RLS (measured: 1.5 s for a 50-row caller among 500k rows of 7 owners), where the owner /
  -- workspace conditions of the policy are the ones that find the caller's few rows.
  -- The planner cannot know how many rows RLS leaves a caller (it estimates `owner_id = <the
  -- caller>` as an average owner); the estimate above does. When it says "few", sequential scans
  -- are disabled for this one statement so the rows are read through the owner / workspace
  -- indexes rather than by reading the whole table. A planner setting changes how rows are found,
  -- never which: RLS and the filters are the same either way.
  -- (`set enable_seqscan from current` above restores the caller's setting when the function ends.)
  if few is null and walk_sql is not null then
    -- The scope graphs' walk found too few (selective filters): how to read their rows.
    few := private.search_sees_few_chunks(filter_embedding_model, filter_workspace_id);
  end if;
  if few then
    perform set_config('enable_seqscan', 'off', true);
  end if;
  return query execute format($sql$
    with nearest as materialized (
      select c.id, c.content, c.metadata,
             c.embedding operator(extensions.<=>) $1 as distance,
             c.document_id, c.chunk_index, c.category, c.workspace_id, c.embedding_model
      from (select * from public.document_chunks c where %s offset 0) c
      where %s
      order by distance, c.id
      limit $5
    )
    select n.id, n.content, n.metadata, 1 - n.distance, n.document_id, n.chunk_index,
           d.title, d.source, n.category, n.workspace_id, n.embedding_model
    from nearest n
    join public.documents d on d.id = n.document_id
    where $6 is null or 1 - n.distance >= $6
    order by n.distance, n.id
  $sql$, scope_clause, model_clause)
  using query_embedding, filter, filter_category, filter_workspace_id, k, match_threshold;
end
$$;
comment on function public.match_documents is
  'Chunks nearest to query_embedding by cosine similarity, among those the caller may read.';
revoke execute on function public.match_documents from public, anon;
grant execute on function public.match_documents to authenticated, service_role;

-- #############################################################################################
-- supabase/schemas/75_hybrid_search.sql
-- #############################################################################################

-- =============================================================================================
-- hybrid_search: full-text and semantic rankings fused by reciprocal rank fusion (RRF)
-- =============================================================================================
-- Each side ranks up to 2 x match_count candidates; a passage scores
--   full_text_weight / (rrf_k + keyword rank) + semantic_weight / (rrf_k + semantic rank)
-- so it wins by ranking well on both, without comparing incomparable scores. rrf_k = 50 damps
-- the lead of the very top ranks (the value Supabase's own guide uses).
-- The semantic side is match_documents itself, so both share its filters, plans and RLS. The
-- keyword side uses websearch syntax ("quoted phrases", -exclusions, or) on the generated fts
-- column, through the full-text index: for a caller RLS restricts, by
-- private.visible_keyword_ranking (60_search_helpers.sql says why), then read again as the
-- caller, so RLS keeps the last word on every row, in the same order.
create function public.hybrid_search(
  query_text text,
  query_embedding extensions.vector(384),
  match_count integer default 10,
  filter jsonb default '{}',
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null,
  full_text_weight double precision default 1,
  semantic_weight double precision default 1,
  rrf_k integer default 50
)
returns table (
  id bigint,
  content text,
  metadata jsonb,
  similarity double precision,
  document_id uuid,
  chunk_index integer,
  title text,
  source text,
  category text,
  workspace_id uuid,
  embedding_model text,
  keyword_rank integer,
  semantic_rank integer,
  score double precision
)
language plpgsql
stable
set search_path = ''
as $$
-- OUT columns share names with table columns; in queries, a bare name means the column.
#variable_conflict use_column
declare
  candidate_count integer;
  keywords tsquery;
  conditions text;
  keyword_ids bigint[];
begin
  if query_text is null or char_length(btrim(query_text)) = 0 then
    raise exception 'query_text is required' using errcode = '22023';
  end if;
  if char_length(query_text) > 2000 then
    raise exception 'query_text must be at most 2000 characters, not %', char_length(query_text)
      using errcode = '22023';
  end if;
  if match_count is null or match_count < 1 or match_count > 200 then
    raise exception 'match_count must be between 1 and 200, not %', coalesce(match_count::text, 'null')
      using errcode = '22023';
  end if;
  if rrf_k is null or rrf_k < 1 then
    raise exception 'rrf_k must be a positive integer' using errcode = '22023';
  end if;
  if full_text_weight is null or semantic_weight is null
     or full_text_weight < 0 or semantic_weight < 0
     or full_text_weight = 'NaN'::double precision or semantic_weight = 'NaN'::double precision then
    raise exception 'full_text_weight and semantic_weight must be non-negative numbers'
      using errcode = '22023';
  end if;
  perform private.check_search_arguments(query_embedding, match_count, filter, null, filter_category);

  candidate_count := match_count * 2;
  keywords := websearch_to_tsquery('english', query_text);

  conditions := private.search_conditions(filter, filter_category, filter_workspace_id);

  -- The keyword ranking: ids in rank order (ties by id), at most candidate_count.
  if row_security_active('public.document_chunks') and pg_has_role('authenticated', 'member') then
    -- Through the full-text index, restricted to what the read policy shows this caller
    -- (20261203000200 says why and how), then read again as the caller: RLS keeps the last
    -- word on every row, in the same order.
    select coalesce(array_agg(k.id order by k.rank_ix), '{}')
      into keyword_ids
    from unnest(private.visible_keyword_ranking(
           keywords, filter, filter_category, filter_workspace_id, filter_embedding_model,
           candidate_count)) with ordinality as k (id, rank_ix)
    where exists (select 1 from public.document_chunks c where c.id = k.id);
  else
    -- RLS does not apply (service_role, postgres: the full-text index is usable as it is), or
    -- applies to a role without a read policy (anon: no rows either way): as the caller.
    execute private.keyword_ranking_statement(conditions, filter_embedding_model, false)
      into keyword_ids
      using keywords, filter, filter_category, filter_workspace_id, candidate_count;
  end if;

  return query
  with keyword as (
    select k.id, k.rank_ix::integer as rank_ix
    from unnest(keyword_ids) with ordinality as k (id, rank_ix)
  ),
  semantic as (
    select
      m.id,
      row_number() over (order by m.similarity desc, m.id)::integer as rank_ix
    from public.match_documents(
      query_embedding, candidate_count, filter, null, filter_category, filter_workspace_id,
      filter_embedding_model
    ) m
  ),
  fused as (
    select
      coalesce(k.id, s.id) as id,
      k.rank_ix as keyword_rank,
      s.rank_ix as semantic_rank,
      coalesce(full_text_weight / (rrf_k + k.rank_ix), 0.0)
        + coalesce(semantic_weight / (rrf_k + s.rank_ix), 0.0) as score
    from keyword k
    full outer join semantic s on s.id = k.id
    order by score desc, id
    limit match_count
  )
  select
    c.id, c.content, c.metadata,
    1 - (c.embedding operator(extensions.<=>) query_embedding),
    c.document_id, c.chunk_index, d.title, d.source, c.category, c.workspace_id,
    c.embedding_model, f.keyword_rank, f.semantic_rank, f.score
  from fused f
  join public.document_chunks c on c.id = f.id
  join public.documents d on d.id = c.document_id
  order by f.score desc, c.id;
end
$$;
comment on function public.hybrid_search is
  'Chunks ranked by full-text and semantic search fused with RRF, among those the caller may read.';
revoke execute on function public.hybrid_search from public, anon;
grant execute on function public.hybrid_search to authenticated, service_role;

-- #############################################################################################
-- supabase/schemas/80_ingest.sql
-- #############################################################################################

-- =============================================================================================
-- Ingest: a document and all its passages in one call, and background ingest jobs
-- =============================================================================================
-- The edge chunks and embeds, then makes one call: either every passage lands with its document
-- or nothing does, so a failure never leaves a half-written document behind. Both writers run as
-- the caller: the documents and chunks policies decide, as for any other write. The text goes
-- with its passages, so a document written by the edge can be re-chunked and re-embedded from
-- source (a model migration) like one written by any other door: the insert (or new text) marks
-- it pending and the passages that follow mark it ready again (85_embedding_queue.sql), in the
-- same transaction, so the worker never sees it.

-- Both writers, and the worker's, take passages as [{"content": ..., "embedding": [...]}, ...];
-- one check for all.
create function private.check_chunk_list(chunks jsonb)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if chunks is null or jsonb_typeof(chunks) <> 'array' or jsonb_array_length(chunks) = 0 then
    raise exception 'chunks must be a non-empty JSON array of {"content", "embedding"}'
      using errcode = '22023';
  end if;
  if jsonb_array_length(chunks) > 10000 then
    raise exception 'chunks must hold at most 10000 items, not %', jsonb_array_length(chunks)
      using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_chunk_list(jsonb) from public;
grant execute on function private.check_chunk_list(jsonb) to authenticated, service_role;

-- Idempotent: the same text ingested again into the same place (same owner, workspace and
-- content hash) returns the existing document instead of a copy, so a client may retry freely.
-- Each passage may carry its "location" in its file ({"page": 12}, {"headings": [...]}).
create function public.ingest_document(
  title text,
  content_hash text,
  embedding_model text,
  chunks jsonb,
  source text default null,
  category text default null,
  metadata jsonb default '{}',
  workspace_id uuid default null,
  content text default null
)
returns table (document_id uuid, created boolean, chunk_count integer)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_variable
declare
  new_id uuid;
  existing_id uuid;
  inserted integer;
begin
  perform private.check_chunk_list(chunks);

  insert into public.documents as d
    (title, content_hash, embedding_model, source, category, metadata, workspace_id, content)
  values
    (title, content_hash, embedding_model, source, category, coalesce(metadata, '{}'),
     workspace_id, content)
  on conflict on constraint documents_same_content_once do nothing
  returning d.id into new_id;

  if new_id is null then
    select d.id into existing_id
    from public.documents d
    where d.owner_id = (select auth.uid())
      and d.workspace_id is not distinct from workspace_id
      and d.content_hash = coalesce(
        encode(sha256(convert_to(content, 'UTF8')), 'hex'), content_hash);
    return query
      select existing_id, false,
             (select count(*)::integer from public.document_chunks c
              where c.document_id = existing_id);
    return;
  end if;

  insert into public.document_chunks (document_id, chunk_index, content, embedding, location)
  select new_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         (item.value -> 'embedding')::text::extensions.vector,
         coalesce(item.value -> 'location', '{}'::jsonb)
  from jsonb_array_elements(chunks) with ordinality as item;
  get diagnostics inserted = row_count;

  return query select new_id, true, inserted;
end
$$;
comment on function public.ingest_document is
  'Store a document with its embedded chunks atomically; returns the existing one for a retry.';
revoke execute on function public.ingest_document from public, anon;
grant execute on function public.ingest_document to authenticated, service_role;

-- New text for a document, re-embedding only what changed. Each item is {"content": ...,
-- "embedding": [...] or null}; a null embedding means "this text is unchanged": the vector
-- already stored for the same text in this document is kept, so the edge embeds only new
-- passages. All passages are swapped in one transaction, so readers see the old text or the new,
-- never a mix. Editing rights come from the documents policies.
create function public.replace_document_chunks(
  document_id uuid,
  content_hash text,
  chunks jsonb,
  content text default null
)
returns table (chunk_count integer, reused integer)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_variable
declare
  missing integer;
  inserted integer;
  kept integer;
  previous jsonb;
begin
  perform private.check_chunk_list(chunks);

  -- The caller must be allowed to edit the document (the policy's USING clause decides).
  -- The text goes with its passages (a caller that sends none leaves the document without text:
  -- the stored one no longer matches them).
  update public.documents d
     set content_hash = replace_document_chunks.content_hash,
         content = replace_document_chunks.content
   where d.id = document_id;
  if not found then
    -- 42501 (insufficient_privilege): PostgREST answers 403, as for any other RLS refusal.
    raise exception 'document % does not exist or you may not edit it', document_id
      using errcode = '42501';
  end if;

  select count(*) into missing
  from jsonb_array_elements(chunks) item
  where jsonb_typeof(item -> 'embedding') is distinct from 'array'
    and not exists (select 1 from public.document_chunks c
                    where c.document_id = document_id and c.content = item ->> 'content');
  if missing > 0 then
    raise exception '% chunks have no embedding and no stored chunk with the same text', missing
      using errcode = '22023';
  end if;

  -- Keep the stored vectors by text before the old chunks go.
  select coalesce(jsonb_object_agg(c.content, c.embedding::text), '{}')
    into previous
  from public.document_chunks c
  where c.document_id = document_id;

  delete from public.document_chunks c where c.document_id = document_id;

  insert into public.document_chunks (document_id, chunk_index, content, embedding)
  select document_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         case jsonb_typeof(item.value -> 'embedding')
           when 'array' then (item.value -> 'embedding')::text
           else previous ->> (item.value ->> 'content')
         end::extensions.vector
  from jsonb_array_elements(chunks) with ordinality as item;
  get diagnostics inserted = row_count;

  select count(*) into kept
  from jsonb_array_elements(chunks) item
  where jsonb_typeof(item -> 'embedding') is distinct from 'array';

  return query select inserted, kept;
end
$$;
comment on function public.replace_document_chunks is
  'Swap a document''s chunks atomically, keeping stored vectors for unchanged text.';
revoke execute on function public.replace_document_chunks from public, anon;
grant execute on function public.replace_document_chunks to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- ingest_jobs: large documents accepted at once, processed in the background
-- ---------------------------------------------------------------------------------------------
-- The edge records a job, answers 202 with its id, then chunks, embeds and stores the document
-- through ingest_document (atomic). Clients poll the job. A failed job leaves no document. Each
-- job is its owner's alone.
create table public.ingest_jobs (
  id uuid primary key default gen_random_uuid(),
  owner_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'succeeded', 'failed')),
  title text not null check (char_length(title) between 1 and 500),
  chunks_total integer check (chunks_total >= 0),
  chunks_embedded integer not null default 0 check (chunks_embedded >= 0),
  document_id uuid references public.documents (id) on delete set null,
  error text check (char_length(error) <= 2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table public.ingest_jobs is 'Progress of background ingests; each is visible to its owner only.';

create index ingest_jobs_owner_id_idx on public.ingest_jobs (owner_id, created_at desc);
create index ingest_jobs_document_id_idx on public.ingest_jobs (document_id);

create trigger ingest_jobs_touch_updated_at
  before update on public.ingest_jobs
  for each row execute function private.touch_updated_at();

alter table public.ingest_jobs enable row level security;
revoke all on public.ingest_jobs from anon, authenticated;
grant select, delete on public.ingest_jobs to authenticated;
grant insert (id, title, chunks_total) on public.ingest_jobs to authenticated;
grant update (status, chunks_total, chunks_embedded, document_id, error)
  on public.ingest_jobs to authenticated;

create policy "Users can see their own ingest jobs"
  on public.ingest_jobs for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and owner_id = (select auth.uid())
  );

create policy "Users can start ingest jobs of their own"
  on public.ingest_jobs for insert to authenticated
  with check (
    (select private.token_allows('knowledge:write'))
    and owner_id = (select auth.uid())
  );

create policy "Users can record progress of their own ingest jobs"
  on public.ingest_jobs for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and owner_id = (select auth.uid())
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and owner_id = (select auth.uid())
  );

create policy "Users can delete their own ingest jobs"
  on public.ingest_jobs for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and owner_id = (select auth.uid())
  );

-- #############################################################################################
-- supabase/schemas/85_embedding_queue.sql
-- #############################################################################################

-- =============================================================================================
-- The embedding queue and the worker's role: every door's documents get embedded
-- =============================================================================================
-- Supabase's "automatic embeddings" shape: triggers mark work, a queue holds it, a worker embeds
-- it. One row per document waiting (a newer text or model replaces the older request), in the
-- private schema: no client reads or writes it.
--
-- The worker (knowledge_worker, `kb-worker`) holds neither the service-role key nor a superuser:
-- it logs in as kb_embedding_worker, a role with no privilege on any table, which may only
-- execute four functions that run as their owner and do exactly one thing each:
--   claim_embedding_work     lease up to N due documents of one model; returns their text
--   renew_embedding_lease    keep a claim while its document is being embedded
--   complete_embedding_work  swap in a leased document's passages (atomically), if the lease holds
--   fail_embedding_work      record a failure: retry later with back-off, or give up after a bound
-- It cannot read a document that is not queued, write one that it has not claimed, change a
-- document's text, owner or workspace, or reach the API (PostgREST's authenticator cannot become
-- it, so no JWT selects it).
--
-- The role is created without a password (nologin). The local stack gives it one at start; on
-- hosted Supabase the project owner does, once, in the SQL editor:
--   alter role kb_embedding_worker with login password '<a long random secret>';
-- and gives the worker KB_WORKER_DATABASE_URL with that role (README: "The embedding worker").
-- Its statement_timeout (60 s: a claim or a swap of one document's passages takes milliseconds)
-- is a role setting, which no schema diff sees: it is set in the migration that follows the
-- baseline.

-- Roles belong to the cluster, not the database: another database on it may have made it.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'kb_embedding_worker') then
    create role kb_embedding_worker nologin noinherit;
  end if;
end
$$;
comment on role kb_embedding_worker is
  'The embedding worker: may only claim queued documents and write their passages.';
grant usage on schema private to kb_embedding_worker;

-- ---------------------------------------------------------------------------------------------
-- The queue
-- ---------------------------------------------------------------------------------------------
--   model          the model the passages must be made with (the project's, when queued)
--   content_hash   the text the request is for; a newer text resets the row and its lease
--   attempts       claims so far; the worker gives up after a bound and records the failure
--   not_before     retry back-off
--   lease_*        who holds the claim and until when: a crashed worker's claim expires and is
--                  taken again, so nothing is lost; a claim is checked again when results come
--                  back, so a late worker cannot write over a newer claim
create table private.embedding_queue (
  document_id uuid primary key references public.documents (id) on delete cascade,
  model text not null check (char_length(model) between 1 and 200),
  content_hash text not null,
  attempts integer not null default 0 check (attempts >= 0),
  not_before timestamptz not null default now(),
  lease_token uuid,
  leased_by text check (char_length(leased_by) <= 200),
  lease_expires_at timestamptz,
  enqueued_at timestamptz not null default now()
);
comment on table private.embedding_queue is
  'Documents waiting for passages (embedding worker); reached only through private functions.';
revoke all on private.embedding_queue from public, anon, authenticated, service_role;

-- What a worker of one model looks for: due rows, oldest first.
create index embedding_queue_due_idx on private.embedding_queue (model, not_before, enqueued_at);

-- A document that became pending is queued (or its request renewed), and workers are woken.
-- NOTIFY is delivered at commit, so a worker never looks before the row is visible; a worker that
-- was not listening finds the row by polling. security definer: the caller may not touch the
-- queue itself.
create function private.queue_embedding()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  target text := (select s.embedding_model from private.project_settings s);
begin
  insert into private.embedding_queue as q (document_id, model, content_hash)
  values (new.id, target, new.content_hash)
  on conflict (document_id) do update
    set model = excluded.model, content_hash = excluded.content_hash, attempts = 0,
        not_before = now(), lease_token = null, leased_by = null, lease_expires_at = null,
        enqueued_at = now();
  perform pg_notify('kb_embedding_work', target);
  return null;
end
$$;
revoke execute on function private.queue_embedding() from public;

create trigger documents_queue_embedding_on_insert
  after insert on public.documents
  for each row when (new.embedding_status = 'pending')
  execute function private.queue_embedding();

create trigger documents_queue_embedding_on_update
  after update of content, content_hash, embedding_status on public.documents
  for each row
  when (new.embedding_status = 'pending'
        and (old.embedding_status is distinct from 'pending'
             or old.content_hash is distinct from new.content_hash))
  execute function private.queue_embedding();

-- Passages written for a document by anyone allowed to write them (the edge's RPCs, a client
-- writing chunks itself, the worker) are its passages now: the document is ready and leaves the
-- queue. The edge writes the text and its passages in one transaction, so the request its insert
-- queued is gone before anyone could see it. A worker still holding that claim finds it gone and
-- writes nothing.
create function private.passages_written()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.documents d
     set embedding_status = 'ready', embedding_error = null
   where d.id in (select distinct w.document_id from written w)
     and d.embedding_status <> 'ready';
  delete from private.embedding_queue q
   where q.document_id in (select distinct w.document_id from written w);
  return null;
end
$$;
revoke execute on function private.passages_written() from public;

create trigger document_chunks_passages_written
  after insert on public.document_chunks
  referencing new table as written
  for each statement execute function private.passages_written();

-- ---------------------------------------------------------------------------------------------
-- The worker's four functions
-- ---------------------------------------------------------------------------------------------
-- How many times a document is claimed before the worker gives up on it.
create function private.embedding_max_attempts()
returns integer
language sql
immutable
set search_path = ''
as $$ select 5 $$;
revoke execute on function private.embedding_max_attempts() from public;

-- Lease up to max_documents due documents waiting for `model`. for update skip locked: two
-- workers claiming at once get different documents. A lease that expired (its worker died, or
-- Postgres restarted under it) makes the document due again; each claim counts as an attempt, so
-- a document that kills every worker that takes it is given up on, not retried for ever.
-- known_passages: md5 of each stored passage of the same model, so the worker embeds only text it
-- has no vector for (null when the model differs: everything is embedded anew).
create function private.claim_embedding_work(
  model text,
  max_documents integer default 8,
  lease_seconds integer default 300,
  worker text default null
)
returns table (
  document_id uuid,
  lease_token uuid,
  content text,
  content_hash text,
  attempts integer,
  known_passages text[]
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  wanted text := claim_embedding_work.model;
begin
  if wanted is null or max_documents is null or max_documents not between 1 and 100
     or lease_seconds is null or lease_seconds not between 5 and 3600 then
    raise exception 'model, max_documents (1-100) and lease_seconds (5-3600) are required'
      using errcode = '22023';
  end if;

  -- Claims whose workers died on every attempt: give up and say so on the document.
  with exhausted as (
    delete from private.embedding_queue q
     where q.model = wanted
       and q.attempts >= private.embedding_max_attempts()
       and q.lease_expires_at <= now()
    returning q.document_id
  )
  update public.documents d
     set embedding_status = 'failed',
         embedding_error = left(format('gave up after %s attempts: the worker stopped while '
                                       'embedding this document%s', private.embedding_max_attempts(),
                                       coalesce('; last error: ' || d.embedding_error, '')), 2000)
    from exhausted e
   where d.id = e.document_id;

  return query
  with picked as (
    select q.document_id
      from private.embedding_queue q
     where q.model = wanted
       and q.not_before <= now()
       and (q.lease_expires_at is null or q.lease_expires_at <= now())
       and q.attempts < private.embedding_max_attempts()
     order by q.not_before, q.enqueued_at
     limit max_documents
     for update skip locked
  ), leased as (
    update private.embedding_queue q
       set lease_token = gen_random_uuid(),
           lease_expires_at = now() + make_interval(secs => lease_seconds),
           leased_by = left(worker, 200),
           attempts = q.attempts + 1
      from picked p
     where q.document_id = p.document_id
    returning q.document_id, q.lease_token, q.attempts
  )
  select l.document_id, l.lease_token, d.content, d.content_hash, l.attempts,
         case when d.embedding_model = wanted then
           array(select md5(c.content) from public.document_chunks c
                 where c.document_id = l.document_id)
         end
    from leased l
    join public.documents d on d.id = l.document_id;
end
$$;
comment on function private.claim_embedding_work(text, integer, integer, text) is
  'Lease due documents of one model for embedding (embedding worker only).';
revoke execute on function private.claim_embedding_work(text, integer, integer, text)
  from public, anon, authenticated, service_role;
grant execute on function private.claim_embedding_work(text, integer, integer, text)
  to kb_embedding_worker;

-- A claim's lease must outlast the embedding, or another worker takes the document over and both
-- embed it (only one may write: the lease is checked). A long text on a slow CPU can take longer
-- than any fixed lease, so the worker renews the lease of the document it is working on (every
-- third of the lease), and a worker that died stops renewing: its claim still expires and is
-- taken again. false: the claim is no longer this worker's (new text, or it expired and was
-- taken); the worker then stops and writes nothing.
create function private.renew_embedding_lease(
  document_id uuid,
  lease_token uuid,
  lease_seconds integer default 300
)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
begin
  if lease_seconds is null or lease_seconds not between 5 and 3600 then
    raise exception 'lease_seconds must be 5 to 3600' using errcode = '22023';
  end if;
  update private.embedding_queue q
     set lease_expires_at = now() + make_interval(secs => lease_seconds)
   where q.document_id = document_id
     and q.lease_token = lease_token
     and q.lease_expires_at > now();
  return found;
end
$$;
comment on function private.renew_embedding_lease(uuid, uuid, integer) is
  'Keep a claim while its document is being embedded (embedding worker only).';
revoke execute on function private.renew_embedding_lease(uuid, uuid, integer)
  from public, anon, authenticated, service_role;
grant execute on function private.renew_embedding_lease(uuid, uuid, integer)
  to kb_embedding_worker;

-- Swap in a claimed document's passages: [{"content": ..., "embedding": [...] or null}], null
-- meaning "a passage of this text is stored, of this model: keep its vector". One transaction:
-- searches see the old passages or the new, never a mix, and never none. Written only if the
-- lease still holds (true); false when the text changed since the claim or another worker took
-- the claim over, and then nothing is written.
create function private.complete_embedding_work(
  document_id uuid,
  lease_token uuid,
  model text,
  chunks jsonb
)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  entry private.embedding_queue;
  previous jsonb;
  missing integer;
begin
  perform private.check_chunk_list(chunks);

  select q.* into entry
    from private.embedding_queue q
   where q.document_id = document_id
     for update;
  if not found or entry.lease_token is distinct from lease_token or entry.model <> model then
    return false;
  end if;

  -- Vectors of this model already stored for the same text are kept.
  select coalesce(jsonb_object_agg(c.content, c.embedding::text), '{}')
    into previous
    from public.document_chunks c
   where c.document_id = document_id and c.embedding_model = model;

  select count(*) into missing
    from jsonb_array_elements(chunks) item
   where jsonb_typeof(item -> 'embedding') is distinct from 'array'
     and not previous ? (item ->> 'content');
  if missing > 0 then
    raise exception '% passages have no embedding and no stored passage of the same text', missing
      using errcode = '22023';
  end if;

  delete from public.document_chunks c where c.document_id = document_id;
  -- The passages' model comes from their document (copy_document_scope_to_chunk).
  update public.documents d
     set embedding_model = model, embedding_status = 'ready', embedding_error = null
   where d.id = document_id;
  insert into public.document_chunks (document_id, chunk_index, content, embedding)
  select document_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         case jsonb_typeof(item.value -> 'embedding')
           when 'array' then (item.value -> 'embedding')::text
           else previous ->> (item.value ->> 'content')
         end::extensions.vector
    from jsonb_array_elements(chunks) with ordinality as item;
  delete from private.embedding_queue q where q.document_id = document_id;
  return true;
end
$$;
comment on function private.complete_embedding_work(uuid, uuid, text, jsonb) is
  'Swap in a claimed document''s passages atomically, if the claim holds (embedding worker only).';
revoke execute on function private.complete_embedding_work(uuid, uuid, text, jsonb)
  from public, anon, authenticated, service_role;
grant execute on function private.complete_embedding_work(uuid, uuid, text, jsonb)
  to kb_embedding_worker;

-- A claimed document could not be embedded. retry: back off (2, 4, 8 ... s, at most 5 min) and
-- try again, up to the bound; otherwise (or at the bound) the document is marked failed. Either
-- way the reason is on the document for its owner to read. Returns 'retrying', 'failed', or
-- 'lost' (the claim no longer holds: nothing recorded).
create function private.fail_embedding_work(
  document_id uuid,
  lease_token uuid,
  error text,
  retry boolean default true
)
returns text
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  entry private.embedding_queue;
  reason text := left(coalesce(nullif(error, ''), 'unknown error'), 2000);
begin
  select q.* into entry
    from private.embedding_queue q
   where q.document_id = document_id
     for update;
  if not found or entry.lease_token is distinct from lease_token then
    return 'lost';
  end if;
  if retry and entry.attempts < private.embedding_max_attempts() then
    update private.embedding_queue q
       set lease_token = null, leased_by = null, lease_expires_at = null,
           not_before = now() + make_interval(secs => least(power(2, entry.attempts), 300))
     where q.document_id = document_id;
    update public.documents d set embedding_error = reason where d.id = document_id;
    return 'retrying';
  end if;
  delete from private.embedding_queue q where q.document_id = document_id;
  update public.documents d
     set embedding_status = 'failed', embedding_error = reason
   where d.id = document_id;
  return 'failed';
end
$$;
comment on function private.fail_embedding_work(uuid, uuid, text, boolean) is
  'Record a claimed document''s failure: retry with back-off or give up (embedding worker only).';
revoke execute on function private.fail_embedding_work(uuid, uuid, text, boolean)
  from public, anon, authenticated, service_role;
grant execute on function private.fail_embedding_work(uuid, uuid, text, boolean)
  to kb_embedding_worker;

-- #############################################################################################
-- supabase/schemas/90_vector_store.sql
-- #############################################################################################

-- =============================================================================================
-- vector_store: the table LangChain's SupabaseVectorStore writes to, under RLS
-- =============================================================================================
-- LangChain's Python and JS stores upsert rows {id, content, embedding, metadata} into a table
-- they are given, call match_documents to search, and delete rows by id. Each row written here
-- becomes a document (same id; its text and metadata) with one passage (the row's vector): what
-- LangChain adds is found by match_documents, by the API's and by the MCP server's search, and
-- documents and their passages stay the one place knowledge lives.
--
-- Why a table and not a view: LangChain upserts (INSERT ... ON CONFLICT (id)), and Postgres
-- refuses ON CONFLICT on a view with INSTEAD OF triggers (no unique index to arbitrate). So the
-- table keeps each row's id and creation time; the other columns are the write interface: a
-- trigger moves them into documents and document_chunks and stores them as null, so nothing is
-- kept twice. Read the knowledge through match_documents or documents (`select` here returns ids).
--
-- Every write runs as the caller: the trigger writes into documents and document_chunks, whose
-- policies decide exactly as for any other door (a viewer or a read-only agent is refused; an
-- agent deletes only what it created).
--
-- Models: a row's vector is recorded under the model the caller states (column embedding_model,
-- e.g. LangChain Python's `from_documents(..., embedding_model="...")`, or metadata's
-- "embedding_model" key), else the project's model. A row without a vector is embedded by the
-- worker with the project's model.

create table public.vector_store (
  id uuid primary key references public.documents (id) on delete cascade,
  content text,
  embedding extensions.vector(384),
  metadata jsonb,
  embedding_model text,
  workspace_id uuid,
  created_at timestamptz not null default now()
);
comment on table public.vector_store is
  'LangChain''s vector store door: a row written here becomes a document with one passage.';

-- Write the row through to its document and passage, as the caller, then keep only the id.
-- Called for INSERT and UPDATE. In an upsert Postgres runs the INSERT trigger first (which writes
-- everything) and then, on a conflicting id, the UPDATE with the values that trigger left (null):
-- an update with nothing to write changes nothing.
create function private.write_vector_store_row()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  model text;
  title text;
  current_content text;
  current_metadata jsonb;
begin
  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id then
      raise exception 'a vector store row keeps its id' using errcode = '42501';
    end if;
    if new.content is null and new.embedding is null and new.metadata is null
       and new.workspace_id is null and new.embedding_model is null then
      return new;
    end if;
    -- A partial update (say, metadata only) keeps the document's other values.
    select d.content, d.metadata into current_content, current_metadata
      from public.documents d where d.id = old.id;
    new.content := coalesce(new.content, current_content);
    new.metadata := coalesce(new.metadata, current_metadata);
  end if;
  if new.content is null or char_length(btrim(new.content)) = 0 then
    raise exception 'content is required' using errcode = '23502';
  end if;
  if new.embedding is not null and char_length(new.content) > 8000 then
    raise exception 'a text with its own vector must be at most 8000 characters, not %',
      char_length(new.content)
      using errcode = '22023', hint = 'Split it first, or send it without a vector.';
  end if;
  new.id := coalesce(new.id, gen_random_uuid());
  model := coalesce(new.embedding_model, new.metadata ->> 'embedding_model',
                    private.project_embedding_model());
  -- A title from the metadata LangChain loaders set, else the text's first line.
  title := left(coalesce(nullif(btrim(coalesce(new.metadata ->> 'title', new.metadata ->> 'source',
                                                  '')), ''),
                         nullif(btrim(split_part(btrim(new.content), E'\n', 1)), ''),
                         'untitled'), 200);

  insert into public.documents as d (id, workspace_id, title, source, content, metadata,
                                     embedding_model)
  values (new.id, new.workspace_id, title, left(new.metadata ->> 'source', 2000), new.content,
          coalesce(new.metadata, '{}'), model)
  on conflict (id) do update
    set content = excluded.content, metadata = excluded.metadata, title = excluded.title,
        workspace_id = coalesce(new.workspace_id, d.workspace_id);

  if new.embedding is not null then
    -- A document's passages are all of one model: a vector of another is refused, not mixed.
    if exists (select 1 from public.documents d
               where d.id = new.id and d.embedding_model is distinct from model) then
      raise exception 'document % is embedded with another model than %', new.id, model
        using errcode = '22023',
              hint = 'State the document''s model, send the text without a vector, or delete it.';
    end if;
    delete from public.document_chunks c where c.document_id = new.id;
    insert into public.document_chunks (document_id, chunk_index, content, embedding)
    values (new.id, 0, new.content, new.embedding);
  end if;

  new.content := null;
  new.embedding := null;
  new.metadata := null;
  new.embedding_model := null;
  new.workspace_id := null;
  return new;
end
$$;
revoke execute on function private.write_vector_store_row() from public;

create trigger vector_store_write_through
  before insert or update on public.vector_store
  for each row execute function private.write_vector_store_row();

-- Deleting a row deletes its document (and passages), as the caller. If the documents policies
-- refuse (a viewer, or an agent deleting what it did not create), the whole delete fails rather
-- than leaving the document behind without its row.
create function private.delete_vector_store_document()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from public.documents d where d.id = old.id;
  if not found and exists (select 1 from public.documents d where d.id = old.id) then
    raise exception 'you may read document % but not delete it', old.id
      using errcode = '42501';
  end if;
  return null;
end
$$;
revoke execute on function private.delete_vector_store_document() from public;

create trigger vector_store_delete_document
  after delete on public.vector_store
  for each row execute function private.delete_vector_store_document();

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies: rows follow their documents
-- ---------------------------------------------------------------------------------------------
alter table public.vector_store enable row level security;
revoke all on public.vector_store from anon, authenticated;
grant select, delete on public.vector_store to authenticated;
grant insert (id, content, embedding, metadata, embedding_model, workspace_id)
  on public.vector_store to authenticated;
-- id too: an upsert sets every column it was sent (`on conflict (id) do update set id = ...`);
-- the trigger refuses an id that actually changes.
grant update (id, content, embedding, metadata, embedding_model, workspace_id)
  on public.vector_store to authenticated;

-- Whether the caller can see a document, read as of now. volatile on purpose: a stable
-- expression reads the table as it was when the statement began, so a policy could not see the
-- document the write-through trigger has just made, and an upsert's RETURNING (which needs the new
-- row to be visible) would be refused. Runs as the caller: the documents policies answer.
create function private.caller_sees_document(document_id uuid)
returns boolean
language sql
volatile
set search_path = ''
as $$
  select exists (select 1 from public.documents d where d.id = document_id)
$$;
revoke execute on function private.caller_sees_document(uuid) from public;
grant execute on function private.caller_sees_document(uuid) to authenticated;

-- Visible with their document, rewritten and deleted where the document may be. An insert needs
-- no more than a token that allows writing: the trigger has already written the document as the
-- caller, and the documents policies refused or allowed it there.
create policy "Vector store rows are visible with their document"
  on public.vector_store for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and private.caller_sees_document(vector_store.id)
  );

create policy "Vector store rows are added by callers who may write"
  on public.vector_store for insert to authenticated
  with check ((select private.token_allows('knowledge:write')));

create policy "Vector store rows are rewritten with their document"
  on public.vector_store for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and private.caller_sees_document(vector_store.id)
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and private.caller_sees_document(vector_store.id)
  );

create policy "Vector store rows are deleted with their document"
  on public.vector_store for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and private.caller_sees_document(vector_store.id)
  );

-- #############################################################################################
-- supabase/schemas/95_request_checks.sql
-- #############################################################################################

-- =============================================================================================
-- Request checks: what PostgREST runs before every request
-- =============================================================================================
-- PostgREST runs one function before every request (`db-pre-request`), in the request's own
-- transaction, as the request's role: private.before_request, at the end of this file. It is set
-- as a role setting of `authenticator` (`pgrst.db_pre_request`), which no schema diff sees: the
-- migration that follows the baseline sets it. The checks, in the order it runs them:
--   * the token's audience and issuer;
--   * the token's session still exists (signed-out sessions end at once, on every door);
--   * on a read replica, the caller's own last write is visible (read your writes);
--   * the caller's write rate;
--   * response headers saying which server answered, and the write's transaction id.

-- Every request runs the hook as its own role, anon included (it returns at once for anon). The
-- function lives in `private`, which PostgREST does not expose, so it is not an endpoint.
grant usage on schema private to anon;

-- Answer 401 the way PostgREST does for a bad token: SQLSTATE PGRST sets status, headers, body.
create function private.refuse_token(code text, message text, description text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', code, 'message', message, 'details', null, 'hint', null)::text,
    detail = json_build_object(
      'status', 401,
      'headers', json_build_object(
        'WWW-Authenticate',
        format('Bearer error="invalid_token", error_description="%s"', description)))::text;
end
$$;
revoke execute on function private.refuse_token(text, text, text) from public;

-- ---------------------------------------------------------------------------------------------
-- Audience and issuer
-- ---------------------------------------------------------------------------------------------
-- PostgREST verifies a token's signature and expiry but, as configured on Supabase, not its
-- audience or issuer: a token minted for another purpose with the same key would pass. Supabase
-- Auth issues user tokens with aud "authenticated" and iss "<project URL>/auth/v1"; refuse others.
-- The issuer is deployment-specific: set it once per project (the local stack does this itself):
--   update private.token_settings set issuer = 'https://<ref>.supabase.co/auth/v1';
-- While it is null, only the audience is checked. The one row is written by the migration that
-- follows the baseline.
create table private.token_settings (
  singleton boolean primary key default true check (singleton),
  audience text not null default 'authenticated',
  issuer text
);
comment on table private.token_settings is
  'One row: the aud every user token must carry, and the iss (when set).';

create function private.check_token_claims()
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  claims jsonb := (select auth.jwt());
  expected record;
begin
  if claims is null or (select auth.role()) <> 'authenticated' then
    return;
  end if;
  select s.audience, s.issuer into expected from private.token_settings s;
  -- aud may be a string or an array of strings (RFC 7519 section 4.1.3).
  if not coalesce(
       case jsonb_typeof(claims -> 'aud')
         when 'string' then claims ->> 'aud' = expected.audience
         when 'array' then (claims -> 'aud') ? expected.audience
         else false
       end, false)
     or (expected.issuer is not null and claims ->> 'iss' is distinct from expected.issuer) then
    perform private.refuse_token(
      'invalid_token', 'the token was not issued for this project (audience or issuer)',
      'wrong audience or issuer'
    );
  end if;
end
$$;
revoke execute on function private.check_token_claims() from public;

-- ---------------------------------------------------------------------------------------------
-- Signed-out sessions
-- ---------------------------------------------------------------------------------------------
-- An access token stays cryptographically valid until it expires, even after its user signs out
-- (Supabase Auth deletes the session row) or an admin revokes the session. PostgREST cannot know
-- that by itself; this check refuses tokens whose session is gone.
-- On a read replica a sign-out arrives after the replay lag (milliseconds here), so a token
-- signed out that instant may still read there that long; writes always meet the primary, which
-- refuses it at once. A sign-in arrives late too: a replica that has not replayed past the
-- token's issue time cannot tell a new session from a revoked one, so it answers 412
-- `replica_behind` and the primary decides (without this, the first search of a fresh sign-in
-- was refused as "session revoked" whenever it beat the replay:
-- tests/local_stack/test_replicas.py).
create function private.check_session_is_live()
returns void
language plpgsql
stable
-- Definer: auth.sessions is Supabase Auth's table; API roles cannot read it.
security definer
set search_path = ''
as $$
declare
  claims jsonb := (select auth.jwt());
  session text := claims ->> 'session_id';
  issued timestamptz;
begin
  if session is null or (select auth.role()) <> 'authenticated' then
    return;
  end if;
  if session !~ '^[0-9a-fA-F-]{36}$'
     or not exists (select 1 from auth.sessions s where s.id = session::uuid) then
    if pg_is_in_recovery() then
      if jsonb_typeof(claims -> 'iat') = 'number' then
        issued := to_timestamp((claims ->> 'iat')::double precision);
      end if;
      -- Five seconds of slack for the clocks of Auth and the database: when in doubt the
      -- primary answers, which costs a retry, never a wrong answer.
      if issued is null
         or issued + interval '5 seconds' > coalesce(pg_last_xact_replay_timestamp(), '-infinity')
      then
        perform private.refuse_read(
          'replica_behind', 'this replica has not yet replayed the sign-in of this token', 412);
      end if;
    end if;
    perform private.refuse_token(
      'session_revoked', 'the session of this token has ended; sign in again', 'session revoked'
    );
  end if;
end
$$;
revoke execute on function private.check_session_is_live() from public;

-- ---------------------------------------------------------------------------------------------
-- Per-user write rate limits
-- ---------------------------------------------------------------------------------------------
-- The counters live in Postgres, so a limit holds across any number of edge instances and also
-- covers clients that call PostgREST directly. What it limits: writes (every ingest, change and
-- delete), the requests that cost embeddings, storage and index maintenance. GET/HEAD requests
-- and calls of stable functions (searches) run in a READ ONLY transaction where no counter can be
-- written (on a replica, every request is), so reads are not limited here; a refused write is
-- rolled back with its request, so it does not count either.

-- Counters are disposable: unlogged (no WAL), one row per user per minute.
create unlogged table private.request_counts (
  user_id uuid not null,
  window_start timestamptz not null,
  requests integer not null default 0,
  primary key (user_id, window_start)
);

-- Its one row is written by the migration that follows the baseline.
create table private.rate_limits (
  singleton boolean primary key default true check (singleton),
  writes_per_minute integer not null default 600 check (writes_per_minute > 0)
);
comment on table private.rate_limits is
  'One row: how many writes a minute each user may make through PostgREST.';

create function private.check_request_rate()
returns void
language plpgsql
volatile
-- Definer: API roles may not touch the counters themselves.
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  current_window timestamptz := date_trunc('minute', now());
  allowed integer;
  used integer;
  retry_after integer;
begin
  if caller is null or (select auth.role()) = 'service_role'
     or current_setting('transaction_read_only') = 'on' then
    return;
  end if;
  select writes_per_minute into allowed from private.rate_limits;

  insert into private.request_counts as r (user_id, window_start, requests)
  values (caller, current_window, 1)
  on conflict (user_id, window_start) do update set requests = r.requests + 1
  returning r.requests into used;
  -- Now and then, forget finished windows.
  if random() < 0.01 then
    delete from private.request_counts where window_start < current_window - interval '2 minutes';
  end if;

  if used > allowed then
    retry_after := greatest(1, ceil(extract(epoch from
      current_window + interval '1 minute' - clock_timestamp()))::integer);
    -- SQLSTATE PGRST: PostgREST answers with this status, headers and JSON body.
    raise sqlstate 'PGRST' using
      message = json_build_object(
        'code', 'rate_limited',
        'message', format('more than %s writes in a minute', allowed),
        'details', null,
        'hint', format('retry after %s seconds', retry_after))::text,
      detail = json_build_object(
        'status', 429,
        'headers', json_build_object('Retry-After', retry_after::text))::text;
  end if;
end
$$;
revoke execute on function private.check_request_rate() from public;

-- ---------------------------------------------------------------------------------------------
-- Reads on read replicas: read your own writes, and where the request ran
-- ---------------------------------------------------------------------------------------------
-- Hosted Supabase's API load balancer sends GET requests to read replicas and everything else to
-- the primary; the local stack's gateway does the same (kb-stack start --replicas N). The
-- searches are `stable`, so PostgREST serves them by GET too, in a READ ONLY transaction. The
-- checks above read replicated tables (token_settings, auth.sessions) and write nothing there.
--
-- A replica replays the primary's WAL a little later; a caller who wrote and reads at once could
-- miss their own write there. Every read-write request answers with `X-Kb-Write-Xid`, the id of
-- its transaction (xid8, never reused). A caller that sends it back as `X-Kb-After-Xid` on a read
-- is answered only by a database whose snapshot already shows that transaction as finished; a
-- replica that has not replayed it yet refuses with 412 `replica_behind`, and the caller reads
-- from the primary instead (`X-Kb-Read-From: primary`, which the gateway routes there). The
-- primary never refuses: it has every finished transaction. Why a transaction id, not a WAL
-- position (LSN): a request cannot know the LSN of its own commit record, which is written after
-- its last statement; "is this xid visible to my snapshot" is the exact question, asked of the
-- same snapshot machinery the search then uses.

-- 412 (or 400), PostgREST's way (SQLSTATE PGRST sets status and body), naming the header.
create function private.refuse_read(code text, message text, status integer)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', code, 'message', message, 'details', null,
      'hint', case when status = 412
        then 'read from the primary: send the request again with X-Kb-Read-From: primary'
      end)::text,
    detail = json_build_object('status', status, 'headers', json_build_object())::text;
end
$$;
revoke execute on function private.refuse_read(text, text, integer) from public;

create function private.check_read_after_write()
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  wanted text := nullif(current_setting('request.headers', true), '')::json ->> 'x-kb-after-xid';
begin
  if wanted is null then
    return;
  end if;
  if wanted !~ '^[0-9]{1,19}$' then
    perform private.refuse_read(
      'invalid_header', 'X-Kb-After-Xid must be a transaction id (digits), as X-Kb-Write-Xid gave it',
      400);
  end if;
  -- The primary has every finished transaction: nothing to wait for there.
  if not pg_is_in_recovery() then
    return;
  end if;
  if not pg_visible_in_snapshot(wanted::xid8, pg_current_snapshot()) then
    perform private.refuse_read(
      'replica_behind',
      format('this replica has not yet replayed transaction %s (X-Kb-After-Xid)', wanted), 412);
  end if;
end
$$;
revoke execute on function private.check_read_after_write() from public;

-- Response headers every request gets: which kind of server answered it (read from the server
-- itself, so tests and operators see where a request really ran), and, for read-write requests,
-- the id of the transaction a later read must see.
create function private.tell_the_caller()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  -- PostgREST wants an array of objects with one key each.
  headers jsonb := jsonb_build_array(jsonb_build_object(
    'X-Kb-Served-By', case when pg_is_in_recovery() then 'replica' else 'primary' end));
begin
  if current_setting('transaction_read_only') = 'off' then
    headers := headers || jsonb_build_array(
      jsonb_build_object('X-Kb-Write-Xid', pg_current_xact_id()::text));
  end if;
  perform set_config('response.headers', headers::text, true);
end
$$;
revoke execute on function private.tell_the_caller() from public;

-- ---------------------------------------------------------------------------------------------
-- The hook
-- ---------------------------------------------------------------------------------------------
-- PostgREST takes one pre-request function: it runs the checks in order. Definer, so the
-- request's role (anon included) needs to reach only this one function.
create function private.before_request()
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.check_token_claims();
  perform private.check_session_is_live();
  perform private.check_read_after_write();
  perform private.check_request_rate();
  perform private.tell_the_caller();
end
$$;
revoke execute on function private.before_request() from public;
grant execute on function private.before_request() to anon, authenticated, service_role;
