-- =============================================================================================
-- hybrid_search: the keyword side follows the caller too
-- =============================================================================================
-- Same signature, rows and order as 20261126001000_hybrid_search.sql. The semantic side was
-- already match_documents (which now chooses its own plan). The keyword side changes in two ways:
--   * it is built with only the filters given and run with EXECUTE, so it is planned with the
--     real values each time (a cached generic plan of `filter is null or ...` cannot use the
--     model column of the scope indexes, and misjudges every filter);
--   * for a caller who sees few rows (private.search_sees_few_chunks), it reads those rows
--     through the owner / workspace indexes and tests the full-text query on each, instead of
--     collecting every match in the table from the full-text index and dropping the ones RLS
--     hides: for a 0.01% owner, ~all of the matches. A planner setting, never a filter: the rows
--     are the same either way.
create or replace function public.hybrid_search(
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
set enable_seqscan from current
as $$
-- OUT columns share names with table columns; in queries, a bare name means the column.
#variable_conflict use_column
declare
  candidate_count integer;
  keywords tsquery;
  conditions text[] := array['true'];
  keyword_ids bigint[];
  seqscan text := current_setting('enable_seqscan');
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

  if filter is not null and filter <> '{}'::jsonb then
    conditions := array_append(conditions, 'c.metadata @> $2');
  end if;
  if filter_category is not null then
    conditions := array_append(conditions, 'c.category = $3');
  end if;
  if filter_workspace_id is not null then
    conditions := array_append(conditions, 'c.workspace_id = $4');
  end if;

  -- The keyword ranking: ids in rank order (ties by id), at most candidate_count.
  if private.search_sees_few_chunks(filter_embedding_model, filter_workspace_id) then
    -- Few rows: read them (`offset 0` keeps the full-text test outside, so the full-text index
    -- is not used to find them) and test each; `set enable_seqscan from current` restores the
    -- setting when the function ends.
    perform set_config('enable_seqscan', 'off', true);
    execute format($sql$
      select coalesce(array_agg(r.id order by r.rank desc, r.id), '{}')
      from (
        select c.id, ts_rank_cd(c.fts, $1) as rank
        from (select * from public.document_chunks c where %s offset 0) c
        where c.fts @@ $1 and %s
        order by rank desc, c.id
        limit $5
      ) r
    $sql$,
      array_to_string(conditions, ' and '),
      -- The model outside the subquery, as in match_documents' exact scan (and for its reason).
      case when filter_embedding_model is null then 'true'
           else format('c.embedding_model = %L', filter_embedding_model) end)
      into keyword_ids
      using keywords, filter, filter_category, filter_workspace_id, candidate_count;
    perform set_config('enable_seqscan', seqscan, true);
  else
    execute format($sql$
      select coalesce(array_agg(r.id order by r.rank desc, r.id), '{}')
      from (
        select c.id, ts_rank_cd(c.fts, $1) as rank
        from public.document_chunks c
        where c.fts @@ $1 and %s and %s
        order by rank desc, c.id
        limit $5
      ) r
    $sql$,
      array_to_string(conditions, ' and '),
      case when filter_embedding_model is null then 'true'
           else format('c.embedding_model = %L', filter_embedding_model) end)
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
