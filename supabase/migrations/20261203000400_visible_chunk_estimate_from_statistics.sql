-- =============================================================================================
-- The visible-rows estimate asks the table's statistics first
-- =============================================================================================
-- private.visible_chunk_estimate (20261201000400) counts a caller's rows in index-only scans,
-- stopped at the switch point. A caller above the switch point always paid for the full count:
-- at 1M rows, 17,321 index entries, 3-5 ms of a 15 ms budget, on every search (measured as the
-- 100% caller of bench section 7). The table's statistics know better at no cost: a caller who
-- owns that many rows (or belongs to a workspace that holds them) is among the most common
-- values of owner_id (or workspace_id), with their share of the rows.
--
-- Used one way only. If the statistics put the caller above four times the switch point (their
-- shares of owner_id and workspace_id, times the model's share when a model is given, times
-- the table's rows), the answer is "many" without counting. Otherwise the rows are counted as
-- before (a small caller's count stops at their own rows, so it is cheap where it matters),
-- because a caller who is not among the most common values is not in the statistics at all.
-- Wrong statistics (a big delete not yet analysed, or an owner whose rows are all of another
-- model) can only send a caller to the HNSW walk, which answers with an exact scan when it
-- brings back fewer than k rows: time, never rows.
-- The share of the table's rows the caller may see, by the statistics: the frequencies of their
-- id among owner_id's most common values and of their workspaces among workspace_id's (0 for a
-- caller in neither list: then the statistics know nothing of them). Rows in both (own rows in
-- their workspaces) count twice, at most doubling it. With a workspace filter, that workspace's
-- frequency alone, if the caller belongs to it.
-- security definer: pg_stats shows a column's statistics only to those who may read the column
-- itself, and the caller may not read everyone's rows.
create function private.visible_share_from_statistics(in_workspace uuid)
returns double precision
language sql
stable
security definer
set search_path = ''
as $$
  select least(1, coalesce(sum(m.share), 0))
  from pg_catalog.pg_stats s
  cross join lateral unnest(s.most_common_vals::text::text[], s.most_common_freqs)
    as m (value, share)
  where s.schemaname = 'public' and s.tablename = 'document_chunks'
    and (
      (in_workspace is null and s.attname = 'owner_id' and m.value = (select auth.uid())::text)
      or (s.attname = 'workspace_id'
          and m.value in (select w::text from private.caller_workspace_ids('{owner,editor,viewer}') w
                          where in_workspace is null or w = in_workspace)))
$$;
revoke execute on function private.visible_share_from_statistics(uuid) from public;
grant execute on function private.visible_share_from_statistics(uuid) to authenticated, service_role;

create or replace function private.visible_chunk_estimate(
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
  caller uuid := (select auth.uid());
  workspaces uuid[] := array(
    select w from private.caller_workspace_ids('{owner,editor,viewer}') w
    where in_workspace is null or w = in_workspace);
  own_filter text := '';
  counted integer;
begin
  if model is not null then
    own_filter := own_filter || format(' and c.embedding_model = %L', model);
  end if;
  if in_workspace is not null then
    own_filter := own_filter || format(' and c.workspace_id = %L::uuid', in_workspace);
  end if;
  -- The model's rows by the statistics: the table's, times the model's share when one is given
  -- (0 for a model outside embedding_model's most common values: a small one).
  if private.visible_share_from_statistics(in_workspace) * (
    select max(t.reltuples) * case when model is null then 1 else coalesce(max(m.share), 0) end
    from pg_catalog.pg_class t
    left join pg_catalog.pg_stats s
      on s.schemaname = 'public' and s.tablename = 'document_chunks'
     and s.attname = 'embedding_model'
    left join lateral unnest(s.most_common_vals::text::text[], s.most_common_freqs)
      as m (value, share) on m.value = model
    where t.oid = 'public.document_chunks'::regclass
  ) > 4.0 * cap then
    return cap;
  end if;
  -- Own rows first; the workspaces' only if those did not reach the cap already.
  execute format(
    'select count(*)::integer from (select 1 from public.document_chunks c '
    'where c.owner_id = $1 %s limit $2) own', own_filter)
    into counted
    using caller, cap;
  if counted < cap then
    execute format(
      'select $3 + count(*)::integer from (select 1 from public.document_chunks c '
      'where c.workspace_id = any ($1) and c.owner_id <> $2 %s limit $4 - $3) shared', own_filter)
      into counted
      using workspaces, caller, counted, cap;
  end if;
  return counted;
end
$$;


-- How wide the HNSW walk looks (hnsw.ef_search) for a caller who sees "many" rows. A walk keeps
-- the ef_search nearest candidates it meets; of those, only the caller's rows count, so a caller
-- who sees a tenth of the graph has a tenth of the candidates. Measured here (bench section 7's
-- table, 1M rows, halfvec graph, 20 queries, recall@10 against the exact answer, as the caller):
--     caller sees 100%:  ef 40 -> 0.970   ef 100 -> 0.985 ( 8.8 ms p50)   ef 200 -> 1.000 (13.3 ms)
--     caller sees  10%:  ef 40 -> 0.905   ef 100 -> 0.940 (11.1 ms p50)   ef 200 -> 0.955 (14.9 ms)
--                                         ef 400 -> 0.985 (37.1 ms p50)
-- So 100 for a caller who sees at least half of the table, 200 below that (callers below the
-- switch point are scanned exactly: they never walk).
create function private.walk_ef_search(in_workspace uuid)
returns integer
language sql
stable
set search_path = ''
as $$
  select case when not row_security_active('public.document_chunks')
                or private.visible_share_from_statistics(in_workspace) >= 0.5
              then 100 else 200 end
$$;
revoke execute on function private.walk_ef_search(uuid) from public;
grant execute on function private.walk_ef_search(uuid) to authenticated, service_role;
