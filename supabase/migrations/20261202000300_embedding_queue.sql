-- =============================================================================================
-- The embedding queue: documents waiting for passages
-- =============================================================================================
-- Supabase's "automatic embeddings" shape: triggers mark work, a queue holds it, a worker embeds
-- it. One row per document waiting (a newer text or model replaces the older request), in the
-- private schema: no client reads or writes it; the worker reaches it only through the functions
-- of 20261202000400.
--
--   model          the model the passages must be made with (the project's, when queued)
--   content_hash   the text the request is for; a newer text resets the row and its lease
--   attempts       claims so far; the worker gives up after a bound and records the failure
--   not_before     retry back-off
--   lease_*        who holds the claim and until when: a crashed worker's claim expires and is
--                  taken again, so nothing is lost; a claim is checked again when results come
--                  back, so a late worker cannot write over a newer claim
-- =============================================================================================

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
-- NOTIFY is delivered at commit, so a worker never looks before the row is visible; a worker
-- that was not listening finds the row by polling. security definer: the caller may not touch
-- the queue itself.
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
-- writes nothing (20261202000400).
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

-- Documents that exist already have no stored text (the column is new): those with passages
-- stay ready; those without any say so, with track_document_text's message.
update public.documents d
   set embedding_status = 'failed',
       embedding_error = 'the document has no text (content) and no passages yet'
 where not exists (select 1 from public.document_chunks c where c.document_id = d.id);
