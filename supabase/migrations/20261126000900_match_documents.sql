-- =============================================================================================
-- match_documents: semantic search over the chunks the caller may read
-- =============================================================================================
-- One signature serves LangChain's SupabaseVectorStore (Python sends `query_embedding` and
-- `filter` and chains `.limit(k)`; JS also sends `match_count`), LlamaIndex and plain supabase-py.
-- It returns a table, so PostgREST callers can filter, select and limit on top of it.
--
-- It runs as the caller (security invoker): RLS on both tables decides what can be returned.
-- RLS and filters are applied while the HNSW index is walked; pgvector's iterative scan keeps
-- walking until `match_count` rows pass them, so a user owning 1% of the rows still gets k rows.
-- relaxed_order gives the better recall of the two modes; the outer ORDER BY restores exact order
-- among the (at most match_count) rows found. ef_search = 100 (pgvector's default is 40) widens
-- the candidate list of each pass for recall at little cost in latency; the benchmarks measure it.
--
-- Not `language sql` on purpose: the SET clauses (search_path, hnsw.*) stop inlining anyway, and
-- plpgsql lets bad arguments fail with a clear message before any row is read. The statement is
-- built with only the filters actually given and run with EXECUTE, so it is planned with the real
-- values every time: a cached generic plan cannot see that `filter is null` and would estimate
-- the unused predicates as selective, then trade the HNSW walk for a full sort.
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
as $$
declare
  conditions text[] := array['true'];
begin
  perform private.check_search_arguments(
    query_embedding, match_count, filter, match_threshold, filter_category
  );

  if filter is not null and filter <> '{}'::jsonb then
    conditions := array_append(conditions, 'c.metadata @> $2');
  end if;
  if filter_category is not null then
    conditions := array_append(conditions, 'c.category = $3');
  end if;
  if filter_workspace_id is not null then
    conditions := array_append(conditions, 'c.workspace_id = $4');
  end if;
  if filter_embedding_model is not null then
    conditions := array_append(conditions, 'c.embedding_model = $5');
  end if;

  -- The threshold applies after the walk: the rows above it are a prefix of the distance order,
  -- so filtering the top rows gives the same answer without a predicate the planner misjudges.
  return query execute format($sql$
    with nearest as materialized (
      -- One table only: these filters and the RLS policy are checked on each index candidate.
      select c.id, c.content, c.metadata,
             c.embedding operator(extensions.<=>) $1 as distance,
             c.document_id, c.chunk_index, c.category, c.workspace_id, c.embedding_model
      from public.document_chunks c
      where %s
      -- The distance expression itself, not an alias or `similarity desc`: that is what lets
      -- the planner walk the HNSW index instead of sorting every row.
      order by c.embedding operator(extensions.<=>) $1
      limit $6
    )
    select n.id, n.content, n.metadata, 1 - n.distance, n.document_id, n.chunk_index,
           d.title, d.source, n.category, n.workspace_id, n.embedding_model
    from nearest n
    join public.documents d on d.id = n.document_id
    where $7 is null or 1 - n.distance >= $7
    order by n.distance, n.id
  $sql$, array_to_string(conditions, ' and '))
  using query_embedding, filter, filter_category, filter_workspace_id, filter_embedding_model,
        -- Without match_count (LangChain's Python store limits outside the call), return as
        -- many rows as PostgREST's max_rows lets through; an index walk needs a LIMIT to stop.
        coalesce(match_count, 1000),
        match_threshold;
end
$$;

comment on function public.match_documents is
  'Chunks nearest to query_embedding by cosine similarity, among those the caller may read.';

revoke execute on function public.match_documents from public, anon;
grant execute on function public.match_documents to authenticated, service_role;
