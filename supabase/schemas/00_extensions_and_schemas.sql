-- =============================================================================================
-- Extensions, schemas and function privileges: what every other file stands on
-- =============================================================================================
-- The files of supabase/schemas/ state the whole database as it is now, one concern a file,
-- applied in the order of their names. Migrations are generated from them (docs/database.md).

-- pgvector: the `vector` and `halfvec` types, distance operators, the HNSW index access method.
-- In `extensions`, where Supabase keeps extensions (the extension_in_public advisor flags one in
-- `public`); PostgREST puts that schema on every request's search_path.
-- On hosted, `postgres` (not a superuser) makes it through supautils, which runs the creation as
-- supabase_admin; where it exists already (enabled in the dashboard), this does nothing.
create extension if not exists vector with schema extensions;

-- Deny by default. Postgres lets PUBLIC execute every new function, whatever a schema's default
-- privileges say (a per-schema revoke cannot remove it: only this global one does), so each
-- callable function is granted beside its definition, and nothing becomes callable by `anon` by
-- accident. Projects made before Supabase stopped granting new objects to the API roles (2026)
-- also grant functions in `public` to anon and authenticated by default: revoked too.
alter default privileges revoke execute on functions from public;
alter default privileges in schema public revoke execute on functions from anon, authenticated;

-- Helpers of policies, triggers and searches. PostgREST does not expose this schema (it is not
-- in `api.schemas`), so none of them is an RPC endpoint.
create schema private;
revoke all on schema private from public;
-- Policies run as the caller, so the caller's role must reach the helpers they call. Two more
-- roles reach the schema, each for one reason: anon for the pre-request hook
-- (95_request_checks.sql), the embedding worker for its own functions (85_embedding_queue.sql).
grant usage on schema private to authenticated, service_role;

-- Keeps `updated_at` true on every table that has one.
create function private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke execute on function private.touch_updated_at() from public;
