-- The slice of Supabase's platform schema that this project's migrations rely on.
--
-- On `supabase start` and on hosted Supabase these objects already exist (created by the
-- supabase/postgres image and by Supabase Auth). The embedded stack lays them down itself, modelled
-- on those init scripts, so the migrations run here unchanged. It is idempotent: it runs on every
-- start, before `supabase migration up`.
--
-- psql variable: :authenticator_password

-- ---------------------------------------------------------------------------------------------
-- Roles: the three API roles PostgREST switches to, and the login role it connects as.
-- ---------------------------------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    -- service_role bypasses RLS, exactly as on Supabase: it is for admin tooling only.
    create role service_role nologin noinherit bypassrls;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin nologin noinherit createrole;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_admin') then
    create role supabase_admin nologin superuser createdb createrole replication bypassrls;
  end if;
end
$$;

alter role authenticator with login password :'authenticator_password';
grant anon, authenticated, service_role to authenticator;

-- As on Supabase, extension objects (the `vector` type, its operators) resolve without a schema
-- prefix in a `postgres` session.
alter role postgres set search_path = "$user", public, extensions;

-- Supabase caps API roles' statements so one request cannot hold the database.
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';

-- ---------------------------------------------------------------------------------------------
-- Schemas and Supabase's default grants.
-- ---------------------------------------------------------------------------------------------
create schema if not exists extensions;
grant usage on schema extensions to postgres, anon, authenticated, service_role;
alter default privileges in schema extensions
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges in schema extensions
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges in schema extensions
  grant all on sequences to postgres, anon, authenticated, service_role;

-- Supabase exposes `public` and grants the API roles everything in it by default; RLS is what stops
-- them. Reproducing these grants keeps tests from passing here that production would fail.
grant usage on schema public to postgres, anon, authenticated, service_role;
-- Granted once, when the database is made, as Supabase does when it makes a project: the
-- migrations narrow them (no function executable by anon by default), and a later start must not
-- widen them again.
do $$
begin
  if not exists (select 1 from pg_default_acl where defaclnamespace = 'public'::regnamespace) then
    alter default privileges in schema public
      grant all on tables to postgres, anon, authenticated, service_role;
    alter default privileges in schema public
      grant all on functions to postgres, anon, authenticated, service_role;
    alter default privileges in schema public
      grant all on sequences to postgres, anon, authenticated, service_role;
  end if;
end
$$;

create schema if not exists graphql_public;
grant usage on schema graphql_public to postgres, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- auth: the tables and helpers Supabase Auth (GoTrue) owns.
-- ---------------------------------------------------------------------------------------------
create schema if not exists auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  instance_id uuid,
  id uuid primary key,
  aud varchar(255),
  role varchar(255),
  email varchar(255) unique,
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  phone text unique,
  banned_until timestamptz,
  deleted_at timestamptz,
  is_sso_user boolean not null default false,
  is_anonymous boolean not null default false
);

create table if not exists auth.sessions (
  id uuid primary key,
  user_id uuid not null references auth.users (id) on delete cascade,
  created_at timestamptz default now(),
  updated_at timestamptz default now(),
  not_after timestamptz,
  aal text default 'aal1'
);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);

alter table auth.users owner to supabase_auth_admin;
alter table auth.sessions owner to supabase_auth_admin;

-- The request's JWT claims, as PostgREST 12 sets them (`request.jwt.claims`), with the legacy
-- per-claim settings as a fallback, like Supabase's own definitions.
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;

create or replace function auth.email() returns text
language sql stable
as $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

alter function auth.jwt() owner to supabase_auth_admin;
alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role;
