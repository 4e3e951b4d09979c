-- =============================================================================================
-- match_documents: semantic search over the passages the caller may read
-- =============================================================================================
-- One signature serves LangChain's SupabaseVectorStore (Python sends `query_embedding` and
-- `filter` and chains `.limit(k)`; JS also sends `match_count`), LlamaIndex and plain supabase-py.
-- It returns a table, so PostgREST callers can filter, select and limit on top of it.
--
-- It runs as the caller (security invoker): RLS decides every row any plan returns. The plan
-- follows the caller's rows, not the size of the table (68_search_plan.sql): a walk of the
-- caller's own scope graphs, an exact scan of their rows when they see few, or a walk of the
-- model's HNSW graph, with iterative scans, RLS and the filters checked on each candidate. If a
-- walk brings back fewer than match_count rows (selective filters, pgvector's
-- hnsw.max_scan_tuples limit, or a model without a graph), the exact scan answers instead, so the
-- caller always gets min(match_count, rows they may see that pass the filters), in the same order
-- whatever the plan.
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
  chosen record;
  found bigint[];
begin
  perform private.check_search_arguments(
    query_embedding, match_count, filter, match_threshold, filter_category
  );

  -- The filters, planned with their real values; the model as a literal, so the planner matches
  -- the model's partial HNSW index. The exact scan reads the caller's rows with the model tested
  -- after (see there).
  scope_clause := private.search_conditions(filter, filter_category, filter_workspace_id);
  model_clause := private.model_condition(filter_embedding_model);
  where_clause := scope_clause || ' and ' || model_clause;

  select * into chosen
  from private.search_plan(filter_embedding_model, filter_workspace_id, where_clause);
  if chosen.statement is not null then
    if chosen.plan = 'graph' then
      -- As wide as the caller's share of the graph needs; `set hnsw.ef_search` above restores
      -- the setting when the function ends.
      perform set_config('hnsw.ef_search', chosen.ef_search::text, true);
    end if;
    -- The candidates of every part, nearest first; a row two parts found counts once.
    execute format(
      'select coalesce(array_agg(w.id order by w.distance, w.id), %L) '
      'from (select n.id, min(n.distance) as distance from (%s) n '
      '      group by n.id order by 2, 1 limit $5) w',
      '{}', chosen.statement)
      into found
      using query_embedding, filter, filter_category, filter_workspace_id, k;
    if cardinality(found) >= k then
      -- The rows are already chosen (and RLS-checked); fetch them as the caller again, in order,
      -- by their float32 distance.
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
    if chosen.plan = 'scope graphs' then
      -- Their graphs' walk found too few (selective filters): how to read their rows.
      select * into chosen
      from private.search_plan(
        filter_embedding_model, filter_workspace_id, where_clause, use_scope_graphs => false);
    end if;
  end if;

  -- The exact scan. `offset 0` keeps the caller's rows a subquery the planner may not merge into
  -- the ORDER BY: it reads them, then sorts, and cannot trade that for an index walk. The
  -- threshold applies after the top k (it is a prefix of the order).
  -- The model is tested outside the subquery: inside, `embedding_model = ...` alone would let the
  -- planner read the model's rows through the second column of a scope index and filter them by
  -- RLS (measured: 1.5 s for a 50-row caller among 500k rows of 7 owners), where the owner /
  -- workspace conditions of the policy are the ones that find the caller's few rows.
  -- The planner cannot know how many rows RLS leaves a caller (it estimates `owner_id = <the
  -- caller>` as an average owner); the plan does. When it says "exact", sequential scans are
  -- disabled for this one statement so the rows are read through the owner / workspace indexes
  -- rather than by reading the whole table. A planner setting changes how rows are found, never
  -- which: RLS and the filters are the same either way.
  -- (`set enable_seqscan from current` above restores the caller's setting when the function ends.)
  if chosen.plan = 'exact' then
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
