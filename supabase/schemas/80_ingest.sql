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
revoke all on public.ingest_jobs from anon, authenticated, service_role;
grant select, delete on public.ingest_jobs to authenticated;
grant insert (id, title, chunks_total) on public.ingest_jobs to authenticated;
grant update (status, chunks_total, chunks_embedded, document_id, error)
  on public.ingest_jobs to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.ingest_jobs to service_role;

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
