-- =============================================================================================
-- The keyword ranking through the full-text index, for callers RLS restricts
-- =============================================================================================
-- Why a security definer step: `tsvector @@ tsquery` is not leakproof, so under RLS Postgres
-- must test the policy on a row before the full-text condition, and cannot use the GIN index on
-- fts to find the matches: every hybrid search of a caller who sees many rows read all of them
-- (measured: 440-610 ms at 200k rows for a 10% or 100% caller; bench section 7). Marking `@@`
-- leakproof takes a superuser, which hosted Supabase does not give.
--
-- So the ranking runs as the table's owner, with the chunks' read policy written into the
-- statement as plain conditions the planner can combine with the full-text index (a BitmapAnd
-- of the GIN index and the owner / workspace indexes, or the GIN index alone when the caller
-- sees most rows): the caller's own rows, or rows of workspaces they belong to in any role,
-- and only if their token allows 'knowledge:read'. That is the SELECT policy of
-- document_chunks (20261201000100) and must stay it: tests/database/test_keyword_ranking.py
-- compares this function's answer with the same ranking run as the caller under RLS, for every
-- caller of the RLS matrix.
--
-- What it may reveal: ids, in rank order, of rows the caller may read anyway; nothing of any
-- other row, whoever calls it and with whatever arguments (the filters narrow, never widen).
-- hybrid_search reads the ranked rows again as the caller, so RLS still has the last word on
-- every row it returns. Granted to authenticated only: the policy is written for that role
-- (anon has none and sees no chunk; service_role and postgres bypass RLS and use the index
-- directly).
-- =============================================================================================

-- The statement both paths run: ids of the rows matching $1, in rank order (ties by id), at
-- most $5. `visible_only` adds the read policy's conditions on $6 (the caller's id) and $7
-- (their workspaces).
create function private.keyword_ranking_statement(
  conditions text,
  filter_embedding_model text,
  visible_only boolean
)
returns text
language sql
immutable
set search_path = ''
as $$
  select format($sql$
    select coalesce(array_agg(r.id order by r.rank desc, r.id), '{}')
    from (
      select c.id, ts_rank_cd(c.fts, $1) as rank
      from public.document_chunks c
      where c.fts @@ $1 and %s and %s and %s
      order by rank desc, c.id
      limit $5
    ) r
  $sql$,
    conditions,
    private.model_condition(filter_embedding_model),
    case when visible_only then '(c.owner_id = $6 or c.workspace_id = any ($7))' else 'true' end)
$$;
revoke execute on function private.keyword_ranking_statement(text, text, boolean) from public;
grant execute on function private.keyword_ranking_statement(text, text, boolean)
  to authenticated, service_role;

create function private.visible_keyword_ranking(
  keywords tsquery,
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid,
  filter_embedding_model text,
  how_many integer
)
returns bigint[]
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  ranked bigint[];
begin
  if caller is null or not private.token_allows('knowledge:read') then
    return '{}';
  end if;
  -- Run with EXECUTE so it is planned with the caller's id and workspaces as values: the
  -- planner then knows how many rows the owner condition picks (few: BitmapAnd with the owner
  -- index; most of the table: the full-text index alone).
  execute private.keyword_ranking_statement(
    private.search_conditions(filter, filter_category, filter_workspace_id),
    filter_embedding_model,
    true)
    into ranked
    using keywords, filter, filter_category, filter_workspace_id,
          least(greatest(how_many, 0), 400),  -- hybrid_search asks for 2 x match_count <= 400
          caller,
          array(select private.caller_workspace_ids('{owner,editor,viewer}'));
  return ranked;
end
$$;
revoke execute on function private.visible_keyword_ranking(tsquery, jsonb, text, uuid, text, integer)
  from public;
grant execute on function private.visible_keyword_ranking(tsquery, jsonb, text, uuid, text, integer)
  to authenticated;
