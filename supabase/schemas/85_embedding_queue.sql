-- =============================================================================================
-- The embedding queue and the worker's role: every door's documents get embedded
-- =============================================================================================
-- Supabase's "automatic embeddings" shape: triggers mark work, a queue holds it, a worker embeds
-- it. One row per document waiting (a newer text or model replaces the older request), in the
-- private schema: no client reads or writes it.
--
-- The worker (knowledge_worker, `kb-worker`) holds neither the service-role key nor a superuser:
-- it logs in as kb_embedding_worker, a role with no privilege on any table, which may only
-- execute six functions that run as their owner and do exactly one thing each:
--   claim_embedding_work       lease up to N due documents of one model; returns their text and
--                              their file's layout
--   release_embedding_claims   give back the claims a worker held when its connection died
--   renew_embedding_lease      keep a claim while its document is being embedded
--   record_embedding_progress  say how many of a claimed document's passages are embedded
--   complete_embedding_work    swap in a leased document's passages (atomically), if the lease holds
--   fail_embedding_work        record a failure: retry later with back-off, or give up after a bound
-- It is the only writer of the vectors of documents written as text, whichever door wrote them:
-- the edge (API, MCP, CLI) stores text and waits for `ready`; it embeds only queries.
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

-- New text or a new layout during a claim queues the document again, which voids the claim.
create trigger documents_queue_embedding_on_update
  after update of content, content_hash, sections, embedding_status on public.documents
  for each row
  when (new.embedding_status = 'pending'
        and (old.embedding_status is distinct from 'pending'
             or old.content_hash is distinct from new.content_hash
             or old.sections is distinct from new.sections))
  execute function private.queue_embedding();

-- Passages written for a document by anyone allowed to write them (a client writing chunks
-- itself, LangChain with its vectors, the worker) are its passages now: the document is ready,
-- leaves the queue and counts them. A
-- worker still holding a claim on it finds the claim gone and writes nothing.
create function private.passages_written()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.documents d
     set embedding_status = 'ready', embedding_error = null,
         passages_total = n.passages, passages_embedded = n.passages
    from (select w.document_id,
                 (select count(*)::integer from public.document_chunks c
                   where c.document_id = w.document_id) as passages
            from (select distinct document_id from written) w) n
   where d.id = n.document_id
     -- complete_embedding_work has said all this already: no second row version.
     and (d.embedding_status <> 'ready' or d.passages_total is distinct from n.passages);
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
-- The worker's six functions
-- ---------------------------------------------------------------------------------------------
-- The worker hands passages over as [{"content": ..., "embedding": [...] or null, "location":
-- {...}}, ...]; one check of the list's shape.
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
-- has no vector for (null when the model differs: everything is embedded anew). sections: the
-- file's layout, by which the worker cuts the text (null: plain text).
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
  known_passages text[],
  sections jsonb
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
         end,
         d.sections
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

-- A worker whose connection died (Postgres restarted, the network failed) stopped embedding what
-- it had claimed, but its leases still run (up to lease_seconds): without this, those documents
-- would wait minutes for their leases to expire. On reconnecting, before it claims anything, it
-- gives its own claims back (by the name it records on each): they are due again at once, with
-- their attempts counted. Another worker's claims are not at stake unless it shares the name;
-- then the worst is work done twice, never written twice (the lease token is checked).
create function private.release_embedding_claims(worker text)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  released integer;
begin
  update private.embedding_queue q
     set lease_token = null, leased_by = null, lease_expires_at = null
   where q.leased_by = left(worker, 200)
     and q.lease_expires_at > now();
  get diagnostics released = row_count;
  return released;
end
$$;
comment on function private.release_embedding_claims(text) is
  'Give back the live claims of a worker that lost its connection (embedding worker only).';
revoke execute on function private.release_embedding_claims(text)
  from public, anon, authenticated, service_role;
grant execute on function private.release_embedding_claims(text) to kb_embedding_worker;

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

-- How far the worker is with a claimed document, for whoever waits on it (the API's and the MCP
-- server's writes, `kb`'s progress bar, any client reading the document): it is written on the
-- document, where the caller's own read policy shows it. Only while the claim holds; false
-- otherwise, and nothing is written. It locks only the document's row (no foreign key is
-- checked), so it cannot deadlock with a deletion the way writing passages could (below).
create function private.record_embedding_progress(
  document_id uuid,
  lease_token uuid,
  passages_embedded integer,
  passages_total integer
)
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
#variable_conflict use_variable
begin
  if passages_total is null or passages_embedded is null or passages_total < 0
     or passages_embedded not between 0 and passages_total then
    raise exception 'passages_embedded must be between 0 and passages_total'
      using errcode = '22023';
  end if;
  update public.documents d
     set passages_embedded = record_embedding_progress.passages_embedded,
         passages_total = record_embedding_progress.passages_total
   where d.id = document_id
     and exists (select 1 from private.embedding_queue q
                  where q.document_id = d.id and q.lease_token = lease_token
                    and q.lease_expires_at > now());
  return found;
end
$$;
comment on function private.record_embedding_progress(uuid, uuid, integer, integer) is
  'Record how many of a claimed document''s passages are embedded (embedding worker only).';
revoke execute on function private.record_embedding_progress(uuid, uuid, integer, integer)
  from public, anon, authenticated, service_role;
grant execute on function private.record_embedding_progress(uuid, uuid, integer, integer)
  to kb_embedding_worker;

-- The worker takes its locks in the order a deletion does: a user's or a workspace's row
-- (auth.users, workspaces), then their documents, then those documents' passages and queue rows
-- (on delete cascade). The passages a worker inserts check their foreign keys, which take a
-- key-share lock on the owner's and the workspace's rows; taken after the document's and queue
-- row's locks, that is the reverse order, and a concurrent `delete from auth.users` of the owner
-- (holding the user's row, waiting for the document) deadlocks with it
-- (tests/worker/test_claims.py makes that interleaving happen). So the worker's functions that
-- write a document first lock its owner and workspace (key share, what those foreign key checks
-- take anyway), then the document, then its queue row. A deletion that got there first is
-- waited for: the document is then gone and the claim lost.
-- Runs as its caller, the worker's functions' owner; not granted to anyone.
create function private.lock_document_for_work(document_id uuid)
returns void
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_variable
declare
  scope record;
begin
  select d.owner_id, d.workspace_id into scope from public.documents d where d.id = document_id;
  perform 1 from auth.users u where u.id = scope.owner_id for key share;
  perform 1 from public.workspaces w where w.id = scope.workspace_id for key share;
  perform 1 from public.documents d where d.id = document_id for no key update;
end
$$;
revoke execute on function private.lock_document_for_work(uuid) from public;

-- Swap in a claimed document's passages: [{"content": ..., "embedding": [...] or null,
-- "location": {...}}], a null embedding meaning "a passage of this text is stored, of this model:
-- keep its vector", the location where the passage is in its file. One transaction:
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

  perform private.lock_document_for_work(document_id);
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
  -- The passages' model comes from their document (copy_document_scope_to_chunk). The counts
  -- are the passages' trigger's to record too (passages_written, above); said here, in the one
  -- update, it has nothing left to change.
  update public.documents d
     set embedding_model = model, embedding_status = 'ready', embedding_error = null,
         passages_total = jsonb_array_length(chunks),
         passages_embedded = jsonb_array_length(chunks)
   where d.id = document_id;
  insert into public.document_chunks (document_id, chunk_index, content, embedding, location)
  select document_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         case jsonb_typeof(item.value -> 'embedding')
           when 'array' then (item.value -> 'embedding')::text
           else previous ->> (item.value ->> 'content')
         end::extensions.vector,
         coalesce(item.value -> 'location', '{}'::jsonb)
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
  perform private.lock_document_for_work(document_id);
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
