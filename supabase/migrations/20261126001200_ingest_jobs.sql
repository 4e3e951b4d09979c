-- =============================================================================================
-- ingest_jobs: large documents accepted at once, processed in the background
-- =============================================================================================
-- The edge records a job, answers 202 with its id, then chunks, embeds and stores the document
-- through ingest_document (atomic). Clients poll the job. A failed job leaves no document.
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
