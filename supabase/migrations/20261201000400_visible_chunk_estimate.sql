-- =============================================================================================
-- A cheap, bounded estimate of how many chunks a caller may see
-- =============================================================================================
-- The search functions use it to choose their plan (an exact scan of the caller's rows, or the HNSW
-- walk). It never decides which rows anyone gets: the search itself runs as the caller under RLS,
-- and both plans return only rows RLS lets through. A wrong estimate costs time, never rows.
--
-- security definer so the counts are index-only scans of the (owner_id, embedding_model) and
-- (workspace_id, embedding_model) indexes, which RLS's per-row check would turn into heap visits.
-- It counts only what the chunks' select policy shows auth.uid() (own rows, and rows of
-- workspaces they belong to in any role, not owned by them: those were counted already), each
-- arm stopped after `cap` rows, so its cost is bounded by `cap` index entries whatever the size
-- of the table.
-- Built with only the filters given and run with EXECUTE (planned with the real values), so each
-- arm is an index-only scan with every condition in the index; a generic plan of
-- `model is null or c.embedding_model = model` would not be.
create function private.visible_chunk_estimate(
  model text,
  in_workspace uuid,
  cap integer
)
returns integer
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  own_filter text := '';
  counted integer;
begin
  if model is not null then
    own_filter := own_filter || format(' and c.embedding_model = %L', model);
  end if;
  if in_workspace is not null then
    own_filter := own_filter || format(' and c.workspace_id = %L::uuid', in_workspace);
  end if;
  -- Own rows first; the workspaces' only if those did not reach the cap already.
  execute format(
    'select count(*)::integer from (select 1 from public.document_chunks c '
    'where c.owner_id = $1 %s limit $2) own', own_filter)
    into counted
    using (select auth.uid()), cap;
  if counted < cap then
    execute format(
      'select $3 + count(*)::integer from (select 1 from public.document_chunks c '
      'where c.workspace_id = any ($1) and c.owner_id <> $2 %s limit $4 - $3) shared', own_filter)
      into counted
      using array(select w from private.caller_workspace_ids('{owner,editor,viewer}') w
                  where in_workspace is null or w = in_workspace),
            (select auth.uid()), counted, cap;
  end if;
  return counted;
end
$$;
revoke execute on function private.visible_chunk_estimate(text, uuid, integer) from public;
grant execute on function private.visible_chunk_estimate(text, uuid, integer)
  to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Few or many: the search functions' choice between an exact scan and the HNSW walk
-- ---------------------------------------------------------------------------------------------
-- The switch point, measured on this 2-core machine (200k synthetic 384-d rows of one model,
-- HNSW 16/64, ef_search 100, relaxed iterative scan, as each owner under RLS, 60 queries, warm,
-- while other work shared the cores; bench section 7 repeats the sweep at the largest size):
--     caller's rows      20     200    2,000   20,000   177,780
--     exact p50 ms     0.28    0.64     6.91    62.69    304.49
--     walk  p50 ms      264     246      105     20.9      11.3   (recall 0.19 / 0.84 / .99 / .97 / 1)
-- The exact scan costs ~3.2 us per row the caller may see; the walk ~9 ms plus ~0.96 ms per
-- 1/share (the rows of the model it steps over per row of the caller's). They cross where
-- 3.2e-3 * v = 9 + 0.96 * T / v, close to v = sqrt(300 * T): ~7,700 rows in a 200k-row graph,
-- ~17,000 in 1M. So a caller sees "few" when fewer than sqrt(300 * T) of the model's rows
-- (at least 1,000), T being the size of the model's graph as its index last counted it (all
-- graphs without a model filter; 0 for a model without a graph: its rows are scanned exactly
-- either way). Null when RLS does not apply to the caller (postgres, service_role see all).
create function private.search_sees_few_chunks(for_model text, in_workspace uuid)
returns boolean
language plpgsql
stable
set search_path = ''
as $$
declare
  graph_rows double precision;
  switch_rows integer;
begin
  if not row_security_active('public.document_chunks') then
    return null;
  end if;
  select coalesce(sum(greatest(i.reltuples, 0)), 0)
    into graph_rows
  from private.embedding_models m
  join pg_catalog.pg_class i
    on i.relname = m.index_name and i.relnamespace = 'public'::regnamespace
  where m.model = for_model or for_model is null;
  switch_rows := greatest(1000, ceil(sqrt(300 * graph_rows)))::integer;
  return private.visible_chunk_estimate(for_model, in_workspace, switch_rows) < switch_rows;
end
$$;
revoke execute on function private.search_sees_few_chunks(text, uuid) from public;
grant execute on function private.search_sees_few_chunks(text, uuid) to authenticated, service_role;
