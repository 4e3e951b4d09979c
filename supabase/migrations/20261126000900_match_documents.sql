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
-- among the (at most match_count) rows found. ef_search = 100 is the candidate list per pass:
-- enough for recall@10 above 0.95 at 100k rows in this project's benchmarks.
--
-- Not `language sql` on purpose: the SET clauses (search_path, hnsw.*) stop inlining anyway, and
-- plpgsql lets bad arguments fail with a clear message before any row is read.
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
-- OUT columns share names with table columns; in queries, a bare name means the column.
#variable_conflict use_column
declare
  -- Without match_count (LangChain's Python store limits outside the call) return as many rows as
  -- PostgREST's max_rows would let through anyway; an index walk needs some LIMIT to stop at.
  row_limit constant integer := coalesce(match_count, 1000);
  max_distance constant double precision := 1 - coalesce(match_threshold, -1);
begin
  perform private.check_search_arguments(
    query_embedding, match_count, filter, match_threshold, filter_category
  );

  return query
  with nearest as materialized (
    select
      c.id,
      c.content,
      d.metadata,
      c.embedding operator(extensions.<=>) query_embedding as distance,
      c.document_id,
      c.chunk_index,
      d.title,
      d.source,
      d.category,
      c.workspace_id,
      c.embedding_model
    from public.document_chunks c
    join public.documents d on d.id = c.document_id
    where (filter is null or d.metadata @> filter)
      and (filter_category is null or d.category = filter_category)
      and (filter_workspace_id is null or c.workspace_id = filter_workspace_id)
      and (filter_embedding_model is null or c.embedding_model = filter_embedding_model)
      and c.embedding operator(extensions.<=>) query_embedding <= max_distance
    -- The distance expression itself, not an alias or `similarity desc`: that is what lets the
    -- planner walk the HNSW index instead of sorting every row.
    order by c.embedding operator(extensions.<=>) query_embedding
    limit row_limit
  )
  select
    n.id, n.content, n.metadata, 1 - n.distance, n.document_id, n.chunk_index, n.title,
    n.source, n.category, n.workspace_id, n.embedding_model
  from nearest n
  order by n.distance, n.id;
end
$$;

comment on function public.match_documents is
  'Chunks nearest to query_embedding by cosine similarity, among those the caller may read.';

revoke execute on function public.match_documents from public, anon;
grant execute on function public.match_documents to authenticated, service_role;
