-- =============================================================================================
-- Function privileges and the private schema
-- =============================================================================================

-- Postgres lets PUBLIC execute every new function, and Supabase's default privileges add anon and
-- authenticated in `public`. Deny by default instead: each callable function is granted explicitly
-- in the migration that creates it, so nothing becomes callable by `anon` by accident.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

-- Helpers used by RLS policies and triggers live here. PostgREST does not expose this schema (it
-- is not in `api.schemas`), so none of them is reachable as an RPC endpoint.
create schema if not exists private;
revoke all on schema private from public;
-- Policies run as the caller, so the caller's role needs to reach the helpers they call.
grant usage on schema private to authenticated, service_role;
