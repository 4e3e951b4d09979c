-- =============================================================================================
-- Embedding models: one HNSW graph per model
-- =============================================================================================
-- Vectors of two models (all 384-d) are not comparable: in one shared graph their neighbourhoods
-- are unrelated islands, and a walk that starts in the big one can miss a minority model's rows
-- entirely. Each model gets its own partial HNSW index (`where embedding_model = '<model>'`),
-- which the planner uses for any search filtered on that model (match_documents writes the model
-- into its statement as a literal, so the index predicate is provably implied).
--
-- The registry lists the models the project's owner registered and, for each, its graph, if any.
-- Only these may have documents: a document of any other model is refused (a trigger below).
-- Writers used to register models by writing a document of one, so anyone could grow a list that
-- every unfiltered search of a large caller walks, one branch per model. A model without a graph
-- is still searched correctly, by an exact scan of the caller's rows of that model
-- (70_match_documents.sql).
--
-- Adding a model to a project is one step, run by the database owner (e.g. in a migration):
--   select private.add_embedding_model('my-model');            -- halfvec graph (default)
--   select private.add_embedding_model('my-model', 'vector');  -- float32 graph
--   select private.add_embedding_model('my-model', 'none');    -- no graph: exact scans only
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
  'The embedding models the project owner registered, and the HNSW index of each (if built).';
-- Search functions run as the caller and read which models have a graph. Model names are project
-- configuration, not anyone's knowledge; nothing else in the table is user data.
grant select on private.embedding_models to authenticated, service_role;

-- A document's model must be registered: one list, kept by the owner, that a search without a
-- model filter can walk model by model. Refused with 400 and what to do.
create function private.require_registered_embedding_model()
returns trigger
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from private.embedding_models m where m.model = new.embedding_model) then
    raise exception 'embedding model "%" is not registered in this project', new.embedding_model
      using errcode = '22023',
            hint = 'Embed with the project''s model, or have the project owner register this '
                   'one: select private.add_embedding_model(''<model>'');';
  end if;
  return new;
end
$$;
revoke execute on function private.require_registered_embedding_model() from public;

create trigger documents_require_registered_embedding_model
  before insert or update of embedding_model on public.documents
  for each row execute function private.require_registered_embedding_model();

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
  if storage is null or storage not in ('halfvec', 'vector', 'none') then
    raise exception 'storage must be halfvec, vector or none' using errcode = '22023';
  end if;
  select m.index_name into previous from private.embedding_models m where m.model = $1;
  if storage = 'none' then
    -- Registered without a graph: its searches scan the caller's rows exactly.
    if previous is not null then
      execute format('drop index if exists public.%I', previous);
    end if;
    insert into private.embedding_models as m (model, index_name, index_storage)
    values ($1, null, null)
    on conflict on constraint embedding_models_pkey
    do update set index_name = null, index_storage = null;
    return null;
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
  'Register an embedding model and give it its own HNSW graph (or none); database owner only.';

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
