-- =============================================================================================
-- match_documents: semantic search over the passages the caller may read
-- =============================================================================================
-- One signature serves LangChain's SupabaseVectorStore (Python sends `query_embedding` and
-- `filter` and chains `.limit(k)`; JS also sends `match_count`), LlamaIndex and plain supabase-py.
-- It returns a table, so PostgREST callers can filter, select and limit on top of it.
--
-- It runs as the caller (security invoker): RLS decides every row any plan returns. The plan
-- follows the caller's rows, not the size of the table (60_search_helpers.sql has the switch
-- point and its measurements):
--   * scope graphs: a caller whose rows are in graphs of their own (an owner's or a workspace's,
--     65_scope_graphs.sql) walks those, plus an exact scan of their few rows outside them;
--   * exact: a caller who sees few rows reads them (RLS through the owner / workspace indexes,
--     which carry the model) and sorts them by distance; cost grows with the caller's rows only;
--   * walk: otherwise the model's HNSW graph (one per model: 50_embedding_models.sql), with
--     iterative scans, RLS and the filters checked on each candidate, as wide as the caller's
--     share of the graph needs (private.walk_ef_search). Cost grows with how many *other* rows
--     the walk steps over, and pgvector stops after hnsw.max_scan_tuples (20,000) candidates.
-- If a walk brings back fewer than match_count rows (selective filters, the scan limit, or a
-- model without a graph), the exact scan answers instead, so the caller always gets
-- min(match_count, rows they may see that pass the filters), in the same order whatever the
-- plan. Callers RLS does not apply to (postgres, service_role) walk first.
-- relaxed_order gives the better recall of pgvector's two iterative modes; the rows found are
-- then ordered exactly by their float32 distance.
--
-- Not `language sql` on purpose: the SET clauses (search_path, hnsw.*) stop inlining anyway, and
-- plpgsql lets bad arguments fail with a clear message before any row is read. Each statement is
-- built with only the filters given and run with EXECUTE, so it is planned with the real values
-- every time.
create function public.match_documents(
  query_embedding extensions.vector(384),
  match_count integer default null,
  filter jsonb default '{}',
  match_threshold double precision default null,
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null
)
returns table (
  id bigint,
  content text,
  metadata jsonb,
  similarity double precision,
  document_id uuid,
  chunk_index integer,
  title text,
  source text,
  category text,
  workspace_id uuid,
  embedding_model text
)
language plpgsql
stable
set search_path = ''
set hnsw.iterative_scan = 'relaxed_order'
set hnsw.ef_search = '100'
set enable_seqscan from current
as $$
declare
  k integer := coalesce(match_count, 1000);
  where_clause text;
  scope_clause text;
  model_clause text;
  few boolean;
  walk_sql text;
  found bigint[];
begin
  perform private.check_search_arguments(
    query_embedding, match_count, filter, match_threshold, filter_category
  );

  -- The filters, planned with their real values (20261203000100); the model as a literal, so
  -- the planner matches the model's partial HNSW index. The exact scan reads the caller's rows
  -- with the model tested after (see there).
  scope_clause := private.search_conditions(filter, filter_category, filter_workspace_id);
  model_clause := private.model_condition(filter_embedding_model);
  where_clause := scope_clause || ' and ' || model_clause;

  -- A caller with graphs of their own (20261203000500) walks those, whatever their size: every
  -- row in them is one they may see (so the default width is enough), and a walk of a graph of
  -- their rows costs less than an exact scan of them from a few thousand rows up. Others: an
  -- exact scan of their rows if few, the model's graph if many.
  if row_security_active('public.document_chunks') then
    walk_sql := private.scope_graph_walk(
      filter_embedding_model, filter_workspace_id, where_clause,
      private.exact_scan_limit(filter_embedding_model));
  end if;
  if walk_sql is null then
    few := private.search_sees_few_chunks(filter_embedding_model, filter_workspace_id);
  end if;

  if few is distinct from true and walk_sql is null then
    -- As wide as the caller's share of the graph needs (20261203000400); `set hnsw.ef_search`
    -- above restores the setting when the function ends.
    perform set_config('hnsw.ef_search', private.walk_ef_search(filter_workspace_id)::text, true);
    -- The walk of the model's graph. Without a model filter, each model's graph is walked on
    -- its own (a model without a graph is scanned exactly) and the candidates merged: one graph
    -- never mixes two models.
    -- Each branch orders by the distance expression its model's graph indexes (half precision
    -- for a halfvec graph: 20261201000300): that is what lets the planner walk the graph. The
    -- rows found are then ordered by their float32 distance, below.
    select string_agg(format($sql$
        (select c.id, %2$s as distance
         from public.document_chunks c
         where %1$s and c.embedding_model = %3$L
         order by %2$s
         limit $5)$sql$,
        where_clause,
        private.graph_distance(g.index_storage),
        g.model), ' union all ')
      into walk_sql
    from (
      select r.model, r.index_storage
      from private.embedding_models r
      where filter_embedding_model is null
      union all
      select filter_embedding_model,
             (select r.index_storage from private.embedding_models r
              where r.model = filter_embedding_model)
      where filter_embedding_model is not null
    ) g;
  end if;
  if walk_sql is not null then
    -- The candidates of every part, nearest first; a row two parts found counts once.
    execute format(
      'select coalesce(array_agg(w.id order by w.distance, w.id), %L) '
      'from (select n.id, min(n.distance) as distance from (%s) n '
      '      group by n.id order by 2, 1 limit $5) w',
      '{}', walk_sql)
      into found
      using query_embedding, filter, filter_category, filter_workspace_id, k;
    if cardinality(found) >= k then
      -- The rows are already chosen (and RLS-checked); fetch them as the caller again, in order.
      return query
      select c.id, c.content, c.metadata, 1 - (c.embedding operator(extensions.<=>) query_embedding),
             c.document_id, c.chunk_index, d.title, d.source, c.category, c.workspace_id,
             c.embedding_model
      from unnest(found) as f (id)
      join public.document_chunks c on c.id = f.id
      join public.documents d on d.id = c.document_id
      where match_threshold is null
         or 1 - (c.embedding operator(extensions.<=>) query_embedding) >= match_threshold
      order by c.embedding operator(extensions.<=>) query_embedding, c.id;
      return;
    end if;
  end if;

  -- The exact scan. `offset 0` keeps the caller's rows a subquery the planner may not merge into
  -- the ORDER BY: it reads them, then sorts, and cannot trade that for an index walk. The
  -- threshold applies after the top k, as before (it is a prefix of the order).
  -- The model is tested outside the subquery: inside, `embedding_model = ...` alone would let the
  -- planner read the model's rows through the second column of a scope index and filter them by
  -- RLS (measured: 1.5 s for a 50-row caller among 500k rows of 7 owners), where the owner /
  -- workspace conditions of the policy are the ones that find the caller's few rows.
  -- The planner cannot know how many rows RLS leaves a caller (it estimates `owner_id = <the
  -- caller>` as an average owner); the estimate above does. When it says "few", sequential scans
  -- are disabled for this one statement so the rows are read through the owner / workspace
  -- indexes rather than by reading the whole table. A planner setting changes how rows are found,
  -- never which: RLS and the filters are the same either way.
  -- (`set enable_seqscan from current` above restores the caller's setting when the function ends.)
  if few is null and walk_sql is not null then
    -- The scope graphs' walk found too few (selective filters): how to read their rows.
    few := private.search_sees_few_chunks(filter_embedding_model, filter_workspace_id);
  end if;
  if few then
    perform set_config('enable_seqscan', 'off', true);
  end if;
  return query execute format($sql$
    with nearest as materialized (
      select c.id, c.content, c.metadata,
             c.embedding operator(extensions.<=>) $1 as distance,
             c.document_id, c.chunk_index, c.category, c.workspace_id, c.embedding_model
      from (select * from public.document_chunks c where %s offset 0) c
      where %s
      order by distance, c.id
      limit $5
    )
    select n.id, n.content, n.metadata, 1 - n.distance, n.document_id, n.chunk_index,
           d.title, d.source, n.category, n.workspace_id, n.embedding_model
    from nearest n
    join public.documents d on d.id = n.document_id
    where $6 is null or 1 - n.distance >= $6
    order by n.distance, n.id
  $sql$, scope_clause, model_clause)
  using query_embedding, filter, filter_category, filter_workspace_id, k, match_threshold;
end
$$;
comment on function public.match_documents is
  'Chunks nearest to query_embedding by cosine similarity, among those the caller may read.';
revoke execute on function public.match_documents from public, anon;
grant execute on function public.match_documents to authenticated, service_role;
