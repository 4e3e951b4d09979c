-- =============================================================================================
-- One HNSW graph per embedding model
-- =============================================================================================
-- Vectors of two models (all 384-d) are not comparable: in one shared graph their neighbourhoods
-- are unrelated islands, and a walk that starts in the big one can miss a minority model's rows
-- entirely. Each model gets its own partial HNSW index (`where embedding_model = '<model>'`),
-- which the planner uses for any search filtered on that model (match_documents writes the
-- model into its statement as a literal, so the index predicate is provably implied).
--
-- The registry below lists every model that has rows (kept by a trigger on documents) and, for
-- each, the index built for it, if any. A model without an index is still searched correctly,
-- by an exact scan of the caller's rows of that model (see match_documents).
--
-- Adding a model to a project is one step, run by the database owner (e.g. in a migration):
--   select private.add_embedding_model('my-model');
-- =============================================================================================

create table private.embedding_models (
  model text primary key check (char_length(model) between 1 and 200),
  -- The partial HNSW index of this model's vectors; null: none yet, searches scan exactly.
  index_name text,
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

insert into private.embedding_models (model)
select distinct d.embedding_model from public.documents d
on conflict (model) do nothing;

-- Build (or find) the HNSW graph of one model and record it. Idempotent. Runs as its caller, and
-- only the table's owner may create an index on it; execution is revoked from every API role.
-- m = 16, ef_construction = 64 as in the knowledge indexes migration: the benchmarks (section 7)
-- measure recall per model at these settings. On a large live table, run the printed
-- `create index concurrently` by hand instead, then call this function: it finds the index by name.
create function private.add_embedding_model(model text)
returns text
language plpgsql
set search_path = ''
as $$
declare
  index_name text := 'document_chunks_hnsw_' || left(md5(model), 16);
begin
  if model is null or char_length(model) not between 1 and 200 then
    raise exception 'model must be 1 to 200 characters' using errcode = '22023';
  end if;
  raise notice 'building %: create index concurrently % on public.document_chunks using hnsw '
    '(embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64) '
    'where embedding_model = %', index_name, index_name, quote_literal(model);
  execute format(
    'create index if not exists %I on public.document_chunks '
    'using hnsw (embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64) '
    'where embedding_model = %L',
    index_name, model
  );
  insert into private.embedding_models (model, index_name) values (model, index_name)
  on conflict on constraint embedding_models_pkey do update set index_name = excluded.index_name;
  return index_name;
end
$$;
revoke execute on function private.add_embedding_model(text)
  from public, anon, authenticated, service_role;
comment on function private.add_embedding_model(text) is
  'Give an embedding model its own HNSW graph (database owner only). Returns the index name.';

-- The models this project's edge embeds with by default (one per provider).
select private.add_embedding_model('all-MiniLM-L6-v2');
select private.add_embedding_model('gte-small');
select private.add_embedding_model('text-embedding-3-small');

-- The one graph shared by every model goes: each model's vectors are in their own graph now.
drop index public.document_chunks_embedding_hnsw_idx;
