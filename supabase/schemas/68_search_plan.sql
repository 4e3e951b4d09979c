-- =============================================================================================
-- A search's plan: how match_documents finds the nearest rows a caller may see
-- =============================================================================================
-- RLS decides which rows a caller may see; the plan only decides how to find the nearest of them,
-- so a wrong choice costs time, never rows (match_documents answers with an exact scan whenever
-- a walk brings back fewer than match_count rows). Three plans:
--   * scope graphs: the caller's rows are in HNSW graphs of their own (an owner's or a
--     workspace's, 65_scope_graphs.sql): walk those, plus an exact scan of their few rows outside
--     them;
--   * exact: the caller sees fewer rows of the model than the switch point (60_search_helpers.sql):
--     read them through the owner / workspace indexes and sort them by distance;
--   * graph: otherwise walk the model's HNSW graph (one per model, 50_embedding_models.sql), as
--     wide as the caller's share of it needs.
--
-- What the caller's scopes hold is asked of the table's statistics once per search
-- (private.caller_scopes): a caller who owns many rows, or belongs to a workspace that holds them,
-- is among the most common values of owner_id or workspace_id, with their share of the rows. The
-- statistics answer "many" at no cost where a count would read up to the switch point (17,321
-- index entries at 1M rows, 3-5 ms of a 15 ms budget, measured as the 100% caller of bench
-- section 7); below four times the switch point the rows are counted, each count stopped there,
-- because a caller who is not among the most common values is not in the statistics at all.
-- Wrong statistics (a big delete not yet analysed, an owner whose rows are all of another model)
-- can only send a caller to a walk, which answers exactly when it finds too few: time, never rows.

-- ---------------------------------------------------------------------------------------------
-- The caller's scopes, read once
-- ---------------------------------------------------------------------------------------------
-- One row: the workspaces the caller belongs to (within in_workspace, in any role), each with its
-- share of the table's rows by the statistics (0 when not among workspace_id's most common values:
-- then the statistics know nothing of it) and the storage of its scope graph of `model` (null:
-- none); the same two for the caller's own rows (no own graph is used within a workspace); and the
-- model's rows by the statistics (the table's rows times the model's share; the table's rows
-- without a model).
-- security definer: pg_stats shows a column's statistics only to those who may read the column
-- itself, and private.scope_graphs (which tenants are big) is nobody else's business; it answers
-- for auth.uid() only, and shows scope graphs only to a token that may read.
-- plpgsql, not sql: its query (over the pg_stats view) is planned once per session, not per call
-- (planning it cost more than running it).
create function private.caller_scopes(model text, in_workspace uuid)
returns table (
  workspaces uuid[],
  workspace_shares double precision[],
  workspace_graphs text[],
  own_share double precision,
  own_graph text,
  model_rows double precision
)
language plpgsql
stable
security definer
set search_path = ''
as $$
#variable_conflict use_variable
declare
  caller uuid := (select auth.uid());
  with_graphs boolean := model is not null and private.token_allows('knowledge:read');
begin
  return query
  with common as materialized (
    -- The most common values of the three columns and their frequencies: the one read of pg_stats.
    select s.attname::text as column_name, m.value, m.share::double precision as share
    from pg_catalog.pg_stats s
    cross join lateral unnest(s.most_common_vals::text::text[], s.most_common_freqs)
      as m (value, share)
    where s.schemaname = 'public' and s.tablename = 'document_chunks'
      and s.attname in ('owner_id', 'workspace_id', 'embedding_model')
  ),
  mine as (
    select w.id,
           coalesce((select c.share from common c
                     where c.column_name = 'workspace_id' and c.value = w.id::text), 0) as share,
           (select g.index_storage from private.scope_graphs g
            where with_graphs and g.workspace_id = w.id and g.model = model) as graph
    from private.caller_workspace_ids('{owner,editor,viewer}') as w (id)
    where in_workspace is null or w.id = in_workspace
  )
  select
    coalesce((select array_agg(m.id order by m.id) from mine m), '{}'),
    coalesce((select array_agg(m.share order by m.id) from mine m), '{}'),
    coalesce((select array_agg(m.graph order by m.id) from mine m), '{}'),
    coalesce((select c.share from common c
              where c.column_name = 'owner_id' and c.value = caller::text), 0)::double precision,
    (select g.index_storage from private.scope_graphs g
     where with_graphs and in_workspace is null and g.owner_id = caller and g.model = model),
    (select t.reltuples from pg_catalog.pg_class t
     where t.oid = 'public.document_chunks'::regclass)
      * case when model is null then 1
             else coalesce((select c.share from common c
                            where c.column_name = 'embedding_model' and c.value = model), 0)
        end;
end
$$;
revoke execute on function private.caller_scopes(text, uuid) from public;
grant execute on function private.caller_scopes(text, uuid) to authenticated, service_role;

-- How many of a model's rows the caller may see in some of their scopes, counted up to `cap`:
-- their own rows (when `own`; within `in_workspace` when given), then rows others own in the
-- workspaces they belong to (all of them, or those in `only_workspaces`; within `in_workspace`
-- when given). It counts only rows the chunks' select policy shows the caller, whatever the
-- arguments. Each count is an index-only scan of the (owner_id, embedding_model) or
-- (workspace_id, embedding_model) index, stopped at `cap`: its cost is bounded whatever the size
-- of the table, and a small caller's count stops at their own rows, so it is cheap where it
-- matters.
-- security definer so the counts are index-only scans, which RLS's per-row check would turn into
-- heap visits. Built with only the filters given and run with EXECUTE (planned with the real
-- values), so each count has every condition in the index.
create function private.bounded_row_count(
  model text,
  in_workspace uuid,
  cap integer,
  own boolean default true,
  only_workspaces uuid[] default null
)
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  workspaces uuid[] := array(
    select w from private.caller_workspace_ids('{owner,editor,viewer}') w
    where (in_workspace is null or w = in_workspace)
      and (only_workspaces is null or w = any (only_workspaces)));
  scope_filter text := '';
  counted integer := 0;
begin
  if model is not null then
    scope_filter := scope_filter || format(' and c.embedding_model = %L', model);
  end if;
  if in_workspace is not null then
    scope_filter := scope_filter || format(' and c.workspace_id = %L::uuid', in_workspace);
  end if;
  -- Own rows first; the workspaces' only if those did not reach the cap already.
  if own then
    execute format(
      'select count(*)::integer from (select 1 from public.document_chunks c '
      'where c.owner_id = $1 %s limit $2) own', scope_filter)
      into counted
      using caller, cap;
  end if;
  if counted < cap and cardinality(workspaces) > 0 then
    execute format(
      'select $3 + count(*)::integer from (select 1 from public.document_chunks c '
      'where c.workspace_id = any ($1) and c.owner_id <> $2 %s limit $4 - $3) shared',
      scope_filter)
      into counted
      using workspaces, caller, counted, cap;
  end if;
  return counted;
end
$$;
revoke execute on function private.bounded_row_count(text, uuid, integer, boolean, uuid[])
  from public;
grant execute on function private.bounded_row_count(text, uuid, integer, boolean, uuid[])
  to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The plan
-- ---------------------------------------------------------------------------------------------
-- For a search of `model`'s rows (null: every model) within `in_workspace` (null: all the
-- caller's), whose filters are `where_clause` (match_documents builds it: parameters as there):
--   plan       'scope graphs', 'exact' or 'graph' (above)
--   visible    the caller's rows the plan was chosen by, counted up to the switch point (the
--              switch point itself when the statistics said "many"): for 'scope graphs', their
--              rows outside those graphs; null when RLS does not apply to the caller
--   ef_search  how wide a walk of the model's graph looks for this caller (hnsw.ef_search)
--   statement  the walk, for 'scope graphs' and 'graph': parts joined by `union all`, each giving
--              (id, float32 distance) of at most $5 rows; a row may come from two parts (an own
--              row in a workspace with a graph), the caller merges by id. null for 'exact'.
-- `use_scope_graphs => false` plans as if the caller had none: how match_documents reads the
-- caller's rows when their graphs' walk found too few.
--
-- Scope graphs are used whatever the caller's size: every row in them is one the caller may see
-- (so the default width is enough), and a walk of a graph of their rows costs less than an exact
-- scan of them from a few thousand rows up; unless the caller has the switch point's worth of rows
-- outside them (then the model's graph serves them better). The rows outside are counted alone:
-- counting them in one statement with an OR of both kinds of scope let the planner read the table
-- itself (24 ms for a caller owning 89% of 1M rows, who then walked the model's graph anyway).
--
-- How wide the walk of the model's graph looks: it keeps the ef_search nearest candidates it
-- meets, and of those only the caller's rows count, so a caller who sees a tenth of the graph has
-- a tenth of the candidates. Measured here (bench section 7's table, 1M rows, halfvec graph, 20
-- queries, recall@10 against the exact answer, as the caller):
--     caller sees 100%:  ef 40 -> 0.970   ef 100 -> 0.985 ( 8.8 ms p50)   ef 200 -> 1.000 (13.3 ms)
--     caller sees  10%:  ef 40 -> 0.905   ef 100 -> 0.940 (11.1 ms p50)   ef 200 -> 0.955 (14.9 ms)
--                                         ef 400 -> 0.985 (37.1 ms p50)
-- So 100 for a caller who sees at least half of the table (or all of it: RLS does not apply),
-- 200 below that (callers below the switch point are scanned exactly: they never walk).
--
-- Each part of a walk runs as the caller under RLS: this function only writes SQL, with the
-- caller's own id and workspaces in it. Each orders by the distance expression its graph indexes
-- (half precision for a halfvec graph): that is what lets the planner walk the graph.
create function private.search_plan(
  model text,
  in_workspace uuid,
  where_clause text,
  use_scope_graphs boolean default true
)
returns table (plan text, visible integer, ef_search integer, statement text)
language plpgsql
stable
set search_path = ''
as $$
#variable_conflict use_variable
declare
  switch_rows integer := private.exact_scan_limit(model);
  caller uuid := (select auth.uid());
  scopes record;
  own boolean := in_workspace is null;
  share double precision;
  width integer := 100;
  graphed uuid[];
  storages text[];
  ungraphed uuid[];
  outside text[] := '{}';
  parts text[] := '{}';
  counted integer;
begin
  if row_security_active('public.document_chunks') then
    select * into scopes from private.caller_scopes(model, in_workspace);
    share := least(1, case when own then scopes.own_share else 0 end
                      + coalesce((select sum(x) from unnest(scopes.workspace_shares) x), 0));
    width := case when share >= 0.5 then 100 else 200 end;

    select coalesce(array_agg(s.id), '{}'), coalesce(array_agg(s.graph), '{}')
      into graphed, storages
    from unnest(scopes.workspaces, scopes.workspace_graphs) as s (id, graph)
    where s.graph is not null;
    if use_scope_graphs and (scopes.own_graph is not null or cardinality(graphed) > 0) then
      -- Rows outside the graphs: own rows (when there is no own graph), and rows others own in
      -- workspaces without a graph.
      ungraphed := array(select w from unnest(scopes.workspaces) w where w <> all (graphed));
      counted := 0;
      if own and scopes.own_graph is null then
        outside := outside || format('c.owner_id = %L', caller);
      end if;
      if cardinality(ungraphed) > 0 then
        outside := outside || format('(c.workspace_id = any (%L::uuid[]) and c.owner_id <> %L)',
          ungraphed, caller);
      end if;
      if cardinality(outside) > 0 then
        -- The statistics first (above four times the switch point: "many" without counting).
        if least(1, case when own and scopes.own_graph is null then scopes.own_share else 0 end
                    + coalesce((select sum(s.share)
                                from unnest(scopes.workspaces, scopes.workspace_shares)
                                  as s (id, share)
                                where s.id = any (ungraphed)), 0))
           * scopes.model_rows > 4.0 * switch_rows then
          counted := switch_rows;
        else
          counted := private.bounded_row_count(
            model, in_workspace, switch_rows, own and scopes.own_graph is null, ungraphed);
        end if;
      end if;
      if counted < switch_rows then
        if scopes.own_graph is not null then
          parts := parts || format(
            '(select c.id, c.embedding operator(extensions.<=>) $1 as distance '
            'from public.document_chunks c where %s and c.owner_id = %L order by %s limit $5)',
            where_clause, caller, private.graph_distance(scopes.own_graph));
        end if;
        for i in 1 .. cardinality(graphed) loop
          parts := parts || format(
            '(select c.id, c.embedding operator(extensions.<=>) $1 as distance '
            'from public.document_chunks c where %s and c.workspace_id = %L order by %s limit $5)',
            where_clause, graphed[i], private.graph_distance(storages[i]));
        end loop;
        if counted > 0 then
          -- `offset 0`: the rows are found by the scope conditions, then ordered (match_documents'
          -- exact scan, and its reason).
          parts := parts || format(
            '(select c.id, c.embedding operator(extensions.<=>) $1 as distance '
            'from (select * from public.document_chunks c where %s offset 0) c '
            'where %s order by 2, 1 limit $5)',
            array_to_string(outside, ' or '), where_clause);
        end if;
        return query select 'scope graphs', counted, width, array_to_string(parts, ' union all ');
        return;
      end if;
    end if;

    if share * scopes.model_rows > 4.0 * switch_rows then
      counted := switch_rows;
    else
      counted := private.bounded_row_count(model, in_workspace, switch_rows);
    end if;
    if counted < switch_rows then
      return query select 'exact', counted, width, null::text;
      return;
    end if;
  end if;

  -- The model's graph. Without a model filter, each model's graph is walked on its own (a model
  -- without a graph is scanned exactly) and the candidates merged: one graph never mixes two
  -- models.
  return query
  select 'graph', counted, width, string_agg(format($sql$
      (select c.id, %2$s as distance
       from public.document_chunks c
       where %1$s and c.embedding_model = %3$L
       order by %2$s
       limit $5)$sql$,
      where_clause, private.graph_distance(g.index_storage), g.model), ' union all ')
  from (
    select r.model, r.index_storage
    from private.embedding_models r
    where model is null
    union all
    select model, (select r.index_storage from private.embedding_models r where r.model = model)
    where model is not null
  ) g;
end
$$;
revoke execute on function private.search_plan(text, uuid, text, boolean) from public;
grant execute on function private.search_plan(text, uuid, text, boolean)
  to authenticated, service_role;
