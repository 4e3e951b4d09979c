-- =============================================================================================
-- The search filters as one SQL condition, written once
-- =============================================================================================
-- match_documents and hybrid_search build their statements from the filters given (planned with
-- the real values each call: 20261201000500/000600), and the keyword ranking below runs the same
-- conditions in a second place. One function writes them, so the three cannot drift apart.
-- Parameters by position in every statement that uses it: $2 filter (jsonb containment on
-- metadata), $3 filter_category, $4 filter_workspace_id. The model is left to the caller of this
-- function: the HNSW walk needs it as a literal in the same WHERE, the exact scan outside its
-- subquery (see match_documents).
-- Returns SQL text only; it reads nothing.
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
