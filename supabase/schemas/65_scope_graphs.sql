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
