-- =============================================================================================
-- Search helpers: argument checks, the filters as SQL, the switch point
-- =============================================================================================
-- match_documents and hybrid_search run as the caller: RLS decides every row they return. These
-- helpers decide only how the rows are found (an exact scan of the caller's rows, a walk of an
-- HNSW graph; the keyword ranking is 62_keyword_index.sql); a wrong choice costs time, never
-- rows.

-- ---------------------------------------------------------------------------------------------
-- Arguments
-- ---------------------------------------------------------------------------------------------
-- Raised with SQLSTATE 22023 (invalid_parameter_value), which PostgREST answers with 400 and the
-- message intact, naming the argument. Runs before any row is read.
create function private.check_search_arguments(
  query_embedding extensions.vector,
  match_count integer,
  filter jsonb,
  match_threshold double precision,
  filter_category text
)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if query_embedding is null then
    raise exception 'query_embedding is required' using errcode = '22023';
  end if;
  -- Function arguments drop their typmod, so vector(384) alone would not reject other sizes.
  if extensions.vector_dims(query_embedding) <> 384 then
    raise exception 'query_embedding must have 384 dimensions, not %',
      extensions.vector_dims(query_embedding)
      using errcode = '22023';
  end if;
  if match_count is not null and (match_count < 1 or match_count > 1000) then
    raise exception 'match_count must be between 1 and 1000, not %', match_count
      using errcode = '22023';
  end if;
  if filter is not null and jsonb_typeof(filter) <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match, not a JSON %',
      jsonb_typeof(filter)
      using errcode = '22023',
            hint = 'Example: {"lang": "en"} matches documents whose metadata contains it.';
  end if;
  if match_threshold is not null
     and (match_threshold = 'NaN'::double precision or match_threshold < -1 or match_threshold > 1) then
    raise exception 'match_threshold must be a similarity between -1 and 1, not %', match_threshold
      using errcode = '22023';
  end if;
  if char_length(filter_category) > 100 then
    raise exception 'filter_category is longer than 100 characters' using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_search_arguments from public;
grant execute on function private.check_search_arguments to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- The filters as SQL, written once
-- ---------------------------------------------------------------------------------------------
-- The searches build their statements from the filters given and run them with EXECUTE, so each
-- is planned with the real values (a cached generic plan of `filter is null or ...` cannot see
-- which filters are unused, misjudges them, and trades the HNSW walk for a full sort).
-- Parameters by position in every statement that uses it: $2 filter (jsonb containment on
-- metadata), $3 filter_category, $4 filter_workspace_id. The model is left to the caller of this
-- function: the HNSW walk needs it as a literal in the same WHERE, the exact scan outside its
-- subquery (see match_documents). Returns SQL text only; it reads nothing.
create function private.search_conditions(
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid
)
returns text
language sql
immutable
set search_path = ''
as $$
  select concat_ws(' and ',
    'true',
    case when filter is not null and filter <> '{}'::jsonb then 'c.metadata @> $2' end,
    case when filter_category is not null then 'c.category = $3' end,
    case when filter_workspace_id is not null then 'c.workspace_id = $4' end)
$$;
revoke execute on function private.search_conditions(jsonb, text, uuid) from public;
grant execute on function private.search_conditions(jsonb, text, uuid)
  to authenticated, service_role;

-- The model condition as a literal (the planner must see the value to match a model's partial
-- HNSW index and the model column of the scope indexes); 'true' without a model filter.
create function private.model_condition(filter_embedding_model text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case when filter_embedding_model is null then 'true'
              else format('c.embedding_model = %L', filter_embedding_model) end
$$;
revoke execute on function private.model_condition(text) from public;
grant execute on function private.model_condition(text) to authenticated, service_role;

-- The distance a graph of this storage orders by (what lets the planner walk it).
create function private.graph_distance(storage text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case storage
    when 'halfvec' then
      '(c.embedding::extensions.halfvec(384)) operator(extensions.<=>) ($1::extensions.halfvec(384))'
    else 'c.embedding operator(extensions.<=>) $1'
  end
$$;
revoke execute on function private.graph_distance(text) from public;
grant execute on function private.graph_distance(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Few or many: the switch point between an exact scan and the HNSW walk
-- ---------------------------------------------------------------------------------------------
-- Measured on this 2-core machine (200k synthetic 384-d rows of one model, HNSW 16/64, ef_search
-- 100, relaxed iterative scan, as each owner under RLS, 60 queries, warm, while other work shared
-- the cores; bench section 7 repeats the sweep at the largest size):
--     caller's rows      20     200    2,000   20,000   177,780
--     exact p50 ms     0.28    0.64     6.91    62.69    304.49
--     walk  p50 ms      264     246      105     20.9      11.3   (recall 0.19 / 0.84 / .99 / .97 / 1)
-- The exact scan costs ~3.2 us per row the caller may see; the walk ~9 ms plus ~0.96 ms per
-- 1/share (the rows of the model it steps over per row of the caller's). They cross where
-- 3.2e-3 * v = 9 + 0.96 * T / v, close to v = sqrt(300 * T): ~7,700 rows in a 200k-row graph,
-- ~17,000 in 1M. So a caller sees "few" below sqrt(300 * T) of the model's rows (at least
-- 1,000), T being the size of the model's graph as its index last counted it (all graphs
-- without a model filter; 0 for a model without a graph: its rows are scanned exactly either
-- way). Written here once: the search's plan (68_search_plan.sql) and the listing of tenants who
-- need a graph of their own (65_scope_graphs.sql) both ask it.
create function private.exact_scan_limit(for_model text)
returns integer
language sql
stable
set search_path = ''
as $$
  select greatest(1000, ceil(sqrt(300 * coalesce(sum(greatest(i.reltuples, 0)), 0))))::integer
  from private.embedding_models m
  join pg_catalog.pg_class i
    on i.relname = m.index_name and i.relnamespace = 'public'::regnamespace
  where m.model = for_model or for_model is null
$$;
revoke execute on function private.exact_scan_limit(text) from public;
grant execute on function private.exact_scan_limit(text) to authenticated, service_role;
