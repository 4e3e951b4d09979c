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
-- A caller whose rows are in scope graphs walks those (the search's plan, 68_search_plan.sql).
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
-- private.caller_scopes, which shows a caller their own scopes only.

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
