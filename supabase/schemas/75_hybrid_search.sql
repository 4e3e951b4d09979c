-- =============================================================================================
-- The text searches: keyword_search and hybrid_search (the keyword side: 62_keyword_index.sql)
-- =============================================================================================

-- The checks every text search makes before reading a row (SQLSTATE 22023: PostgREST answers 400
-- with the message, which names the argument).
create function private.check_text_search_arguments(query_text text, match_count integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
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
end
$$;
revoke execute on function private.check_text_search_arguments(text, integer) from public;
grant execute on function private.check_text_search_arguments(text, integer)
  to authenticated, service_role;

-- The rows of ranked candidates, read as the caller, best first: passages, or with
-- group_by_document each document once at its best passage. Each candidate is read through the
-- primary key (a lateral lookup with `limit 1`, which the planner may not turn into a join
-- over the table, whatever it guesses of the lists' sizes). The
-- similarity is computed when a query vector is given (hybrid), null otherwise (keyword).
create function private.search_results(
  ids bigint[],
  keyword_ranks integer[],
  semantic_ranks integer[],
  scores double precision[],
  query_embedding extensions.vector,
  group_by_document boolean,
  match_count integer
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
language sql
stable
set search_path = ''
as $$
  select r.id, r.content, r.metadata,
         1 - (r.embedding operator(extensions.<=>) query_embedding),
         r.document_id, r.chunk_index, d.title, d.source, r.category, r.workspace_id,
         r.embedding_model, r.keyword_rank, r.semantic_rank, r.score
  from (
    select c.*, f.keyword_rank, f.semantic_rank, f.score, f.ord,
           row_number() over (partition by c.document_id order by f.ord) as in_document
    from unnest(ids, keyword_ranks, semantic_ranks, scores)
           with ordinality as f (id, keyword_rank, semantic_rank, score, ord)
    cross join lateral (
      select c.id, c.content, c.metadata, c.embedding, c.document_id, c.chunk_index, c.category,
             c.workspace_id, c.embedding_model
      from public.document_chunks c
      where c.id = f.id
      limit 1
    ) c
  ) r
  join public.documents d on d.id = r.document_id
  where not group_by_document or r.in_document = 1
  order by r.ord
  limit match_count
$$;
revoke execute on function private.search_results(
  bigint[], integer[], integer[], double precision[], extensions.vector, boolean, integer
) from public;
grant execute on function private.search_results(
  bigint[], integer[], integer[], double precision[], extensions.vector, boolean, integer
) to authenticated, service_role;

-- How many documents these passages belong to (as the caller): enough for match_count of them?
create function private.document_count(ids bigint[])
returns integer
language sql
stable
set search_path = ''
as $$
  select count(distinct c.document_id)::integer
  from unnest(ids) as f (id)
  cross join lateral (
    select c.document_id from public.document_chunks c where c.id = f.id limit 1
  ) c
$$;
revoke execute on function private.document_count(bigint[]) from public;
grant execute on function private.document_count(bigint[]) to authenticated, service_role;

-- Keyword search alone: passages ranked by BM25 over any of the query's words (above), or with
-- group_by_document, documents ranked by their best passage (one row each: that passage).
-- The same columns as hybrid_search, so every door reads one shape: similarity and semantic_rank
-- are null (no vector is involved), score is the BM25 score. A query of only stop words or
-- punctuation has no words to match: no rows.
create function public.keyword_search(
  query_text text,
  match_count integer default 10,
  filter jsonb default '{}',
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null,
  group_by_document boolean default false
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
declare
  -- Passages enough for match_count documents: deeper while documents hold several of them.
  depth integer := case when group_by_document then match_count * 3 else match_count end;
  ids bigint[];
  ranks integer[];
  scores double precision[];
begin
  perform private.check_text_search_arguments(query_text, match_count);
  if filter is not null and jsonb_typeof(filter) <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match, not a JSON %',
      jsonb_typeof(filter) using errcode = '22023';
  end if;
  if group_by_document is null then
    raise exception 'group_by_document must be true or false' using errcode = '22023';
  end if;
  loop
    select coalesce(array_agg(k.id order by k.rank_ix), '{}'),
           coalesce(array_agg(k.rank_ix order by k.rank_ix), '{}'),
           coalesce(array_agg(k.score order by k.rank_ix), '{}')
      into ids, ranks, scores
    from private.keyword_candidates(query_text, filter, filter_category, filter_workspace_id,
                                    filter_embedding_model, depth) k;
    exit when not group_by_document or cardinality(ids) < depth or depth >= 4000
           or private.document_count(ids) >= match_count;
    depth := least(depth * 4, 4000);
  end loop;
  return query
  select * from private.search_results(
    ids, ranks, array_fill(null::integer, array[cardinality(ids)]), scores, null,
    group_by_document, match_count);
end
$$;
revoke execute on function public.keyword_search from public, anon;
grant execute on function public.keyword_search to authenticated, service_role;

-- hybrid_search, with the BM25 keyword side and a fusion tuned on SciFact's train split
-- (bench/README.md, section 10). Same columns; the parameters of before keep their meaning and
-- order; new ones have defaults:
--   * group_by_document: documents ranked by their best passage (one row each: that passage);
--   * match_threshold, as in match_documents: only passages at least that similar to the query,
--     whichever side found them, in their fused order; applied before the top match_count are
--     taken, so up to match_count rows come back. It leaves the fusion's scores as they are;
--   * fusion: 'relative_score' (the default) adds each side's score scaled to 0..1 over its
--     candidates (min-max), weighted by full_text_weight and semantic_weight and divided by their
--     sum; 'rrf' is reciprocal rank fusion as before (weight / (rrf_k + rank), summed). Measured
--     on SciFact train, documents by best passage, 100 candidates a side: relative_score 0.734
--     nDCG@10, RRF (k = 50) 0.716, RRF at its best (k = 10) 0.726, BM25 alone 0.692, semantic
--     alone 0.667 (bench/scifact_tuning.py).
-- Each side brings its best max(20, 2 x match_count) passages (deeper for documents until
-- match_count of them are found). Measured on SciFact train: nDCG@10 0.731 with 20
-- candidates, 0.732 with 50, 0.734 with 100, 0.737 with 1,000; while on the 1M-row sweep a
-- caller who sees 10% of a model's graph without a scope graph of their own walked it for 40 ms
-- (p50) to bring 20 candidates and 122 ms for 100. A side whose weight is 0 is not run.
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
  rrf_k integer default 50,
  match_threshold double precision default null,
  group_by_document boolean default false,
  fusion text default 'relative_score'
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
declare
  depth integer := greatest(20, 2 * match_count);
  keyword_ids bigint[] := '{}';
  keyword_scores double precision[] := '{}';
  semantic_ids bigint[] := '{}';
  semantic_scores double precision[] := '{}';
  ids bigint[];
  keyword_ranks integer[];
  semantic_ranks integer[];
  scores double precision[];
begin
  perform private.check_text_search_arguments(query_text, match_count);
  if rrf_k is null or rrf_k < 1 then
    raise exception 'rrf_k must be a positive integer' using errcode = '22023';
  end if;
  if full_text_weight is null or semantic_weight is null
     or full_text_weight < 0 or semantic_weight < 0
     or full_text_weight in ('NaN', 'Infinity') or semantic_weight in ('NaN', 'Infinity') then
    raise exception 'full_text_weight and semantic_weight must be non-negative numbers'
      using errcode = '22023';
  end if;
  if fusion is null or fusion not in ('relative_score', 'rrf') then
    raise exception 'fusion must be ''relative_score'' or ''rrf'', not %',
      coalesce(quote_literal(fusion), 'null') using errcode = '22023';
  end if;
  if group_by_document is null then
    raise exception 'group_by_document must be true or false' using errcode = '22023';
  end if;
  perform private.check_search_arguments(
    query_embedding, match_count, filter, match_threshold, filter_category);

  loop
    if full_text_weight > 0 then
      select coalesce(array_agg(k.id order by k.rank_ix), '{}'),
             coalesce(array_agg(k.score order by k.rank_ix), '{}')
        into keyword_ids, keyword_scores
      from private.keyword_candidates(query_text, filter, filter_category, filter_workspace_id,
                                      filter_embedding_model, depth) k;
    end if;
    if semantic_weight > 0 then
      select coalesce(array_agg(m.id order by m.similarity desc, m.id), '{}'),
             coalesce(array_agg(m.similarity order by m.similarity desc, m.id), '{}')
        into semantic_ids, semantic_scores
      from public.match_documents(query_embedding, depth, filter, null, filter_category,
                                  filter_workspace_id, filter_embedding_model) m;
    end if;
    exit when not group_by_document or depth >= 1000
           or (cardinality(keyword_ids) < depth and cardinality(semantic_ids) < depth)
           or private.document_count(keyword_ids || semantic_ids) >= match_count;
    depth := least(depth * 4, 1000);
  end loop;

  -- The fusion, on the two lists alone (no table is read here).
  with keyword as (
    select k.id, k.rank_ix::integer as rank_ix,
           (k.score - min(k.score) over ()) / nullif(max(k.score) over () - min(k.score) over (), 0)
             as scaled
    from unnest(keyword_ids, keyword_scores) with ordinality as k (id, score, rank_ix)
  ),
  semantic as (
    select s.id, s.rank_ix::integer as rank_ix,
           (s.score - min(s.score) over ()) / nullif(max(s.score) over () - min(s.score) over (), 0)
             as scaled
    from unnest(semantic_ids, semantic_scores) with ordinality as s (id, score, rank_ix)
  ),
  fused as (
    select coalesce(k.id, s.id) as id, k.rank_ix as keyword_rank, s.rank_ix as semantic_rank,
           case when fusion = 'rrf' then
             coalesce(full_text_weight / (rrf_k + k.rank_ix), 0.0)
               + coalesce(semantic_weight / (rrf_k + s.rank_ix), 0.0)
           else
             -- Absent from a list: 0 from it. A list whose scores are all equal (one
             -- candidate, say) scales to 1.
             coalesce((case when k.id is null then 0.0
                            else full_text_weight * coalesce(k.scaled, 1) end
                       + case when s.id is null then 0.0
                              else semantic_weight * coalesce(s.scaled, 1) end)
                      / nullif(full_text_weight + semantic_weight, 0), 0.0)
           end as score
    from keyword k
    full outer join semantic s on s.id = k.id
  )
  select array_agg(f.id order by f.score desc, f.id),
         array_agg(f.keyword_rank order by f.score desc, f.id),
         array_agg(f.semantic_rank order by f.score desc, f.id),
         array_agg(f.score order by f.score desc, f.id)
    into ids, keyword_ranks, semantic_ranks, scores
  from fused f;

  if match_threshold is not null then
    -- Each fused candidate read as the caller through the primary key (keyword candidates carry
    -- no similarity); the order is kept.
    select array_agg(f.id order by f.ord), array_agg(f.keyword_rank order by f.ord),
           array_agg(f.semantic_rank order by f.ord), array_agg(f.score order by f.ord)
      into ids, keyword_ranks, semantic_ranks, scores
    from unnest(ids, keyword_ranks, semantic_ranks, scores)
           with ordinality as f (id, keyword_rank, semantic_rank, score, ord)
    cross join lateral (
      select c.embedding from public.document_chunks c where c.id = f.id limit 1
    ) c
    where 1 - (c.embedding operator(extensions.<=>) query_embedding) >= match_threshold;
  end if;

  if not group_by_document then
    -- Every candidate is a row the caller may read (each side read them as the caller): the
    -- first match_count are the answer, and only they need reading again.
    ids := ids[1:match_count];
    keyword_ranks := keyword_ranks[1:match_count];
    semantic_ranks := semantic_ranks[1:match_count];
    scores := scores[1:match_count];
  end if;
  return query
  select * from private.search_results(
    coalesce(ids, '{}'), keyword_ranks, semantic_ranks, scores, query_embedding,
    group_by_document, match_count);
end
$$;
revoke execute on function public.hybrid_search from public, anon;
grant execute on function public.hybrid_search to authenticated, service_role;
