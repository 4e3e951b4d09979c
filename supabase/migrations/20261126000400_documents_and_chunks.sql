-- =============================================================================================
-- Documents and their embedded chunks
-- =============================================================================================

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
  -- sha256 of the document's text, hex: lets a retried ingest find the document it already made.
  content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  -- Every chunk of a document is embedded by this model; vectors of different models are not
  -- comparable, so search filters on it rather than mixing them silently.
  embedding_model text not null check (char_length(embedding_model) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The same text ingested twice into the same place is the same document.
  constraint documents_same_content_once unique nulls not distinct (owner_id, workspace_id, content_hash)
);
comment on table public.documents is 'A unit of knowledge, owned by a user and optionally shared with a workspace.';

create table public.document_chunks (
  id bigint generated always as identity primary key,
  document_id uuid not null references public.documents (id) on delete cascade,
  -- Copies of the document's owner, workspace, model, category and metadata, kept true by
  -- triggers. RLS and search filter on them while walking the HNSW index, with no join per
  -- candidate row: a join there makes the planner give up the index for a full sort.
  owner_id uuid not null references auth.users (id) on delete cascade,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  embedding_model text not null,
  category text,
  metadata jsonb not null default '{}'::jsonb,
  chunk_index integer not null check (chunk_index >= 0),
  content text not null check (char_length(content) between 1 and 8000),
  embedding extensions.vector(384) not null,
  fts tsvector generated always as (to_tsvector('english', content)) stored,
  created_at timestamptz not null default now(),
  unique (document_id, chunk_index)
);
comment on table public.document_chunks is 'A passage of a document with its 384-d embedding and full-text vector.';
