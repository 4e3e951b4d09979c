-- =============================================================================================
-- pgvector as the schema needs it: checked, and loaded into the session
-- =============================================================================================
-- 0.8 or later: iterative index scans (hnsw.iterative_scan), without which a search that RLS or
-- a filter narrows can silently return too few rows. In `extensions`, where every statement here
-- names it (and where Supabase's advisors want it).
--
-- Then the type is used once, which loads pgvector's library into this session and so defines
-- the hnsw.* settings. Until then Postgres takes the `set hnsw.ef_search = ...` of a
-- `create function` for a setting no library defined, which only a superuser may set: it
-- refuses it to `postgres`, which is no superuser on hosted (hosted does not preload pgvector,
-- and `load 'vector'` is refused to a non-superuser too).
--
-- `kb-stack db diff` puts this file at the top of every migration it writes that sets a hnsw.*
-- or ivfflat.* option, so each migration also applies alone, in a fresh session
-- (tests/database/test_migrations.py).
do $$
declare
  installed record;
begin
  select e.extversion as version, e.extnamespace::regnamespace::text as schema
    into installed
    from pg_catalog.pg_extension e
   where e.extname = 'vector';
  if installed.schema is distinct from 'extensions' then
    raise exception 'pgvector is in schema %, not in extensions', installed.schema
      using hint = 'Run: alter extension vector set schema extensions;';
  end if;
  if (regexp_match(installed.version, '^(\d+)\.(\d+)'))::integer[] < array[0, 8] then
    raise exception 'pgvector % is too old: iterative index scans need 0.8 or later',
      installed.version
      using hint = 'Run: alter extension vector update; (if the server has no pgvector 0.8, '
                   'upgrade the project''s Postgres first: Dashboard, Settings, Infrastructure).';
  end if;
  perform '[1]'::extensions.vector;
end
$$;
