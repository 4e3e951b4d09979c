-- =============================================================================================
-- hybrid_search: full-text and semantic rankings fused by reciprocal rank fusion (RRF)
-- =============================================================================================
-- Each side ranks up to 2 x match_count candidates; a passage scores
--   full_text_weight / (rrf_k + keyword rank) + semantic_weight / (rrf_k + semantic rank)
-- so it wins by ranking well on both, without comparing incomparable scores. rrf_k = 50 damps
-- the lead of the very top ranks (the value Supabase's own guide uses).
-- The semantic side is match_documents itself, so both share its filters, plans and RLS. The
-- keyword side uses websearch syntax ("quoted phrases", -exclusions, or) on the generated fts
-- column, through the full-text index: for a caller RLS restricts, by
-- private.visible_keyword_ranking (60_search_helpers.sql says why), then read again as the
-- caller, so RLS keeps the last word on every row, in the same order.
create function public.hybrid_search(
  query_text text,
  query_embedding extensions.vector(384),
  match_count integer default 10,
  filter jsonb default '{}',
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null,
  full_text_weight double precision default 1,
  semantic_weight double precision default 1,
  rrf_k integer default 50
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
  embedding_model text,
  keyword_rank integer,
  semantic_rank integer,
  score double precision
)
language plpgsql
stable
set search_path = ''
as $$
-- OUT columns share names with table columns; in queries, a bare name means the column.
#variable_conflict use_column
declare
  candidate_count integer;
  keywords tsquery;
  conditions text;
  keyword_ids bigint[];
begin
  if query_text is null or char_length(btrim(query_text)) = 0 then
    raise exception 'query_text is required' using errcode = '22023';
  end if;
  if char_length(query_text) > 2000 then
    raise exception 'query_text must be at most 2000 characters, not %', char_length(query_text)
      using errcode = '22023';
  end if;
  if match_count is null or match_count < 1 or match_count > 200 then
    raise exception 'match_count must be between 1 and 200, not %', coalesce(match_count::text, 'null')
      using errcode = '22023';
  end if;
  if rrf_k is null or rrf_k < 1 then
    raise exception 'rrf_k must be a positive integer' using errcode = '22023';
  end if;
  if full_text_weight is null or semantic_weight is null
     or full_text_weight < 0 or semantic_weight < 0
     or full_text_weight = 'NaN'::double precision or semantic_weight = 'NaN'::double precision then
    raise exception 'full_text_weight and semantic_weight must be non-negative numbers'
      using errcode = '22023';
  end if;
  perform private.check_search_arguments(query_embedding, match_count, filter, null, filter_category);

  candidate_count := match_count * 2;
  keywords := websearch_to_tsquery('english', query_text);

  conditions := private.search_conditions(filter, filter_category, filter_workspace_id);

  -- The keyword ranking: ids in rank order (ties by id), at most candidate_count.
  if row_security_active('public.document_chunks') and pg_has_role('authenticated', 'member') then
    -- Through the full-text index, restricted to what the read policy shows this caller
    -- (60_search_helpers.sql says why and how), then read again as the caller: RLS keeps the last
    -- word on every row, in the same order.
    select coalesce(array_agg(k.id order by k.rank_ix), '{}')
      into keyword_ids
    from unnest(private.visible_keyword_ranking(
           keywords, filter, filter_category, filter_workspace_id, filter_embedding_model,
           candidate_count)) with ordinality as k (id, rank_ix)
    where exists (select 1 from public.document_chunks c where c.id = k.id);
  else
    -- RLS does not apply (service_role, postgres: the full-text index is usable as it is), or
    -- applies to a role without a read policy (anon: no rows either way): as the caller.
    execute private.keyword_ranking_statement(conditions, filter_embedding_model, false)
      into keyword_ids
      using keywords, filter, filter_category, filter_workspace_id, candidate_count;
  end if;

  return query
  with keyword as (
    select k.id, k.rank_ix::integer as rank_ix
    from unnest(keyword_ids) with ordinality as k (id, rank_ix)
  ),
  semantic as (
    select
      m.id,
      row_number() over (order by m.similarity desc, m.id)::integer as rank_ix
    from public.match_documents(
      query_embedding, candidate_count, filter, null, filter_category, filter_workspace_id,
      filter_embedding_model
    ) m
  ),
  fused as (
    select
      coalesce(k.id, s.id) as id,
      k.rank_ix as keyword_rank,
      s.rank_ix as semantic_rank,
      coalesce(full_text_weight / (rrf_k + k.rank_ix), 0.0)
        + coalesce(semantic_weight / (rrf_k + s.rank_ix), 0.0) as score
    from keyword k
    full outer join semantic s on s.id = k.id
    order by score desc, id
    limit match_count
  )
  select
    c.id, c.content, c.metadata,
    1 - (c.embedding operator(extensions.<=>) query_embedding),
    c.document_id, c.chunk_index, d.title, d.source, c.category, c.workspace_id,
    c.embedding_model, f.keyword_rank, f.semantic_rank, f.score
  from fused f
  join public.document_chunks c on c.id = f.id
  join public.documents d on d.id = c.document_id
  order by f.score desc, c.id;
end
$$;
comment on function public.hybrid_search is
  'Chunks ranked by full-text and semantic search fused with RRF, among those the caller may read.';
revoke execute on function public.hybrid_search from public, anon;
grant execute on function public.hybrid_search to authenticated, service_role;
