-- =============================================================================================
-- The embedding worker's role: claim pending work, write passages for it, nothing else
-- =============================================================================================
-- The worker (knowledge_worker, `kb-worker`) turns queued documents into passages. It holds
-- neither the service-role key nor a superuser: it logs in as kb_embedding_worker, a role with no
-- privilege on any table. It may only execute the three functions below, which run as their
-- owner and do exactly one thing each:
--   claim_embedding_work     lease up to N due documents of one model; returns their text
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
-- =============================================================================================

do $$
begin
  -- Roles belong to the cluster, not the database: another database on it may have made it.
  if not exists (select 1 from pg_catalog.pg_roles where rolname = 'kb_embedding_worker') then
    create role kb_embedding_worker nologin noinherit;
  end if;
end
$$;
comment on role kb_embedding_worker is
  'The embedding worker: may only claim queued documents and write their passages.';
-- A claim or a swap of one document's passages takes milliseconds; nothing it runs should hold
-- the database longer.
alter role kb_embedding_worker set statement_timeout = '60s';

grant usage on schema private to kb_embedding_worker;

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

revoke execute on function private.claim_embedding_work(text, integer, integer, text),
  private.complete_embedding_work(uuid, uuid, text, jsonb),
  private.fail_embedding_work(uuid, uuid, text, boolean)
  from public, anon, authenticated, service_role;
grant execute on function private.claim_embedding_work(text, integer, integer, text),
  private.complete_embedding_work(uuid, uuid, text, jsonb),
  private.fail_embedding_work(uuid, uuid, text, boolean)
  to kb_embedding_worker;
