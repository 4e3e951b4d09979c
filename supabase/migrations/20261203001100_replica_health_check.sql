-- =============================================================================================
-- A health check that reaches the database, for the gateway's read replicas
-- =============================================================================================
-- The gateway (local_stack/Caddyfile) checks each replica's PostgREST once a second and sends it
-- reads only while this answers 200. PostgREST's own /ready sits on an admin port the gateway's
-- health check cannot name per replica, and its root (the OpenAPI document) costs 30-100 ms of
-- queries: this is one trivial query, through the same pool, pre-request hook and role as every
-- real read. Anyone may call it (it tells nothing but that the database answers; each response's
-- X-Kb-Served-By header already says whether a replica answered).

create function public.database_is_ready()
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select true
$$;
comment on function public.database_is_ready() is
  'true when the database behind this PostgREST answers: the gateway''s replica health check.';

revoke execute on function public.database_is_ready() from public;
grant execute on function public.database_is_ready() to anon, authenticated, service_role;

notify pgrst, 'reload schema';
