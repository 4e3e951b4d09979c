-- The slice of Supabase's platform that this project's migrations stand on, as hosted has it.
--
-- On `supabase start` and on hosted Supabase these objects already exist (made by the
-- supabase/postgres image and by Supabase Auth's migrations). The embedded stack lays them down
-- itself, modelled on those sources (docs/hosted-differences.md lists what it cannot copy), so
-- the migrations run here unchanged and meet the same refusals they would meet there.
--
-- Run as the cluster's superuser, supabase_admin (as hosted's image runs its own set-up), in
-- each database the stack makes, before `supabase migration up`. Idempotent: it runs on every
-- start.
--
-- psql variables: :authenticator_password, :postgres_password

-- ---------------------------------------------------------------------------------------------
-- Roles (they belong to the cluster: made once, their attributes set again on every run)
-- ---------------------------------------------------------------------------------------------
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'postgres') then
    create role postgres;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'anon') then
    create role anon;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    create role authenticated;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'service_role') then
    create role service_role;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'authenticator') then
    create role authenticator;
  end if;
  if not exists (select 1 from pg_roles where rolname = 'supabase_auth_admin') then
    create role supabase_auth_admin;
  end if;
end
$$;

-- The project's owner: what hosted's demote-postgres migration leaves. Not a superuser: it
-- creates roles and databases, replicates, bypasses RLS, and may do what the grants below give.
alter role postgres with nosuperuser inherit createdb createrole login replication bypassrls
  password :'postgres_password';
-- The API roles PostgREST switches to. Created noinherit, then made inherit by hosted's
-- 20230529180330_alter_api_roles_for_inherit. service_role bypasses RLS: admin tooling only.
alter role anon with nologin inherit nobypassrls;
alter role authenticated with nologin inherit nobypassrls;
alter role service_role with nologin inherit bypassrls;
-- PostgREST's login. noinherit: it holds nothing itself until it switches role.
alter role authenticator with login noinherit nobypassrls password :'authenticator_password';
-- Supabase Auth's own role (it owns the auth tables). Auth does not run here: no password.
alter role supabase_auth_admin with login noinherit nocreaterole noreplication;

-- Memberships as in hosted's role dumps (z_17_roles.out): postgres may become the API roles and
-- the authenticator (and administer them, which Postgres 16+ requires to change their settings);
-- it reads statistics and all data, and may signal other sessions.
grant anon, authenticated, service_role to authenticator;
grant anon, authenticated, service_role, authenticator to postgres with admin option;
grant pg_monitor, pg_read_all_data, pg_signal_backend to postgres with admin option;

-- Role settings as hosted has them. PostgREST applies the role it switches to's own settings on
-- each request (since 11.1), so anon gets 3 s and authenticated 8 s; service_role has none of its
-- own and keeps the authenticator's 8 s; postgres has none.
alter role postgres set search_path = "$user", public, extensions;
alter role anon set statement_timeout = '3s';
alter role authenticated set statement_timeout = '8s';
alter role authenticator set statement_timeout = '8s';
alter role authenticator set lock_timeout = '8s';
alter role supabase_auth_admin set search_path = auth;

-- ---------------------------------------------------------------------------------------------
-- Parameters postgres may set: supautils' allowance, granted the way core Postgres can
-- ---------------------------------------------------------------------------------------------
-- On hosted, supautils lets the privileged role (postgres) set the parameters listed in
-- supautils.privileged_role_allowed_configs, among them `pgrst.*` (PostgREST's in-database
-- configuration: `alter role authenticator set pgrst.db_pre_request = ...`) and
-- session_replication_role. supautils is not available here; Postgres 15+ grants the same
-- right per parameter (no wildcards), so these are the parameters of that list that exist here
-- (auto_explain is preloaded, as on hosted: local_stack/postgres.py) plus every in-database
-- setting PostgREST reads. hnsw.* is not among them, on hosted either:
-- see supabase/schemas/00_extensions_and_schemas.sql for how the migrations set it.
grant set on parameter
  pgrst.db_aggregates_enabled, pgrst.db_anon_role, pgrst.db_extra_search_path,
  pgrst.db_hoisted_tx_settings, pgrst.db_max_rows, pgrst.db_plan_enabled, pgrst.db_pre_config,
  pgrst.db_pre_request, pgrst.db_prepared_statements, pgrst.db_root_spec, pgrst.db_schemas,
  pgrst.db_tx_end, pgrst.jwt_aud, pgrst.jwt_cache_max_lifetime, pgrst.jwt_role_claim_key,
  pgrst.jwt_secret, pgrst.jwt_secret_is_base64, pgrst.openapi_mode,
  pgrst.openapi_security_active, pgrst.openapi_server_proxy_uri,
  pgrst.server_cors_allowed_origins, pgrst.server_timing_enabled, pgrst.server_trace_header,
  auto_explain.log_analyze, auto_explain.log_buffers, auto_explain.log_format,
  auto_explain.log_level, auto_explain.log_min_duration, auto_explain.log_nested_statements,
  auto_explain.log_settings, auto_explain.log_timing, auto_explain.log_verbose,
  log_lock_waits, log_min_duration_statement, log_min_messages, log_parameter_max_length,
  log_replication_commands, log_statement, log_temp_files, session_replication_role,
  track_io_timing, wal_compression
  to postgres;

-- ---------------------------------------------------------------------------------------------
-- The database and its schemas
-- ---------------------------------------------------------------------------------------------
-- postgres owns the project's database, so it owns `public` (pg_database_owner) and creates
-- there; nobody else does.
do $$
begin
  execute format('alter database %I owner to postgres', current_database());
end
$$;

-- Extensions live in `extensions`, owned by postgres; the objects of an extension are
-- supabase_admin's (supautils makes `create extension` by postgres run as it), and its default
-- privileges give them to postgres alone. The API roles use extension functions through
-- Postgres's own EXECUTE to PUBLIC, as on hosted.
create schema if not exists extensions;
alter schema extensions owner to postgres;
grant usage on schema extensions to anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema extensions
  grant all on tables to postgres;
alter default privileges for role supabase_admin in schema extensions
  grant all on functions to postgres;
alter default privileges for role supabase_admin in schema extensions
  grant all on sequences to postgres;

-- pgvector, made by supabase_admin as supautils' delegation makes it when postgres enables it
-- (dashboard or `create extension`): the migrations' `create extension if not exists` then finds
-- it. Not trusted, so postgres could not make it itself here.
create extension if not exists vector with schema extensions;

-- `public`: usage for the API roles, and NO default privileges for postgres's new objects. Hosted
-- projects stopped granting new tables and functions to anon, authenticated and service_role
-- (new projects since 2026-05-30, all projects since 2026-10-30): each object is granted beside
-- its definition. What supabase_admin makes in `public` still goes to everyone, and postgres
-- cannot change that (Supabase's KB); nothing of this project's is made by supabase_admin there.
grant usage on schema public to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on tables to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on functions to postgres, anon, authenticated, service_role;
alter default privileges for role supabase_admin in schema public
  grant all on sequences to postgres, anon, authenticated, service_role;

create schema if not exists graphql_public;
grant usage on schema graphql_public to postgres, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- auth: what Supabase Auth (GoTrue) owns, as its migrations leave it
-- ---------------------------------------------------------------------------------------------
-- The schema is supabase_admin's; Auth's role creates its tables, whose default privileges give
-- postgres everything on them (postgres may read and write users, sessions and identities, but
-- create nothing in `auth`).
create schema if not exists auth authorization supabase_admin;
grant usage on schema auth to anon, authenticated, service_role, postgres;
grant usage, create on schema auth to supabase_auth_admin;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on tables to postgres;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on sequences to postgres;
alter default privileges for role supabase_auth_admin in schema auth
  grant all on functions to postgres;

set role supabase_auth_admin;

do $$
begin
  if to_regtype('auth.aal_level') is null then
    create type auth.aal_level as enum ('aal1', 'aal2', 'aal3');
  end if;
  if to_regtype('auth.oauth_registration_type') is null then
    create type auth.oauth_registration_type as enum ('dynamic', 'manual');
  end if;
  if to_regtype('auth.oauth_client_type') is null then
    create type auth.oauth_client_type as enum ('public', 'confidential');
  end if;
end
$$;

-- Columns, nullability, defaults and indexes as GoTrue's migrations leave them. Four of the
-- strings GoTrue reads into Go strings have no default: a row written without them ('' is what
-- GoTrue writes) makes Auth answer 500 (supabase/auth#1940). supabase/seed.sql writes them.
create table if not exists auth.users (
  instance_id uuid,
  id uuid not null,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  email_change_token_new varchar(255),
  email_change varchar(255),
  email_change_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text default null,
  phone_confirmed_at timestamptz,
  phone_change text default '',
  phone_change_token varchar(255) default '',
  phone_change_sent_at timestamptz,
  confirmed_at timestamptz generated always as (least(email_confirmed_at, phone_confirmed_at)) stored,
  email_change_token_current varchar(255) default '',
  email_change_confirm_status smallint default 0
    check (email_change_confirm_status >= 0 and email_change_confirm_status <= 2),
  banned_until timestamptz,
  reauthentication_token varchar(255) default '',
  reauthentication_sent_at timestamptz,
  is_sso_user boolean not null default false,
  deleted_at timestamptz,
  is_anonymous boolean not null default false,
  constraint users_pkey primary key (id),
  constraint users_phone_key unique (phone)
);
-- One account per email among password / OTP users (SSO users may repeat an email).
create unique index if not exists users_email_partial_key on auth.users (email)
  where (is_sso_user = false);
create index if not exists users_instance_id_email_idx on auth.users
  (instance_id, lower((email)::text));
create index if not exists users_instance_id_idx on auth.users (instance_id);
create index if not exists users_is_anonymous_idx on auth.users (is_anonymous);
-- Tokens are unique unless blank ('' matches the pattern: many rows may hold it).
create unique index if not exists confirmation_token_idx on auth.users (confirmation_token)
  where ((confirmation_token)::text !~ '^[0-9 ]*$');
create unique index if not exists recovery_token_idx on auth.users (recovery_token)
  where ((recovery_token)::text !~ '^[0-9 ]*$');
create unique index if not exists email_change_token_current_idx on auth.users
  (email_change_token_current) where ((email_change_token_current)::text !~ '^[0-9 ]*$');
create unique index if not exists email_change_token_new_idx on auth.users
  (email_change_token_new) where ((email_change_token_new)::text !~ '^[0-9 ]*$');
create unique index if not exists reauthentication_token_idx on auth.users
  (reauthentication_token) where ((reauthentication_token)::text !~ '^[0-9 ]*$');

-- An email user's identity: provider 'email', provider_id its user's id, {sub, email}.
create table if not exists auth.identities (
  provider_id text not null,
  user_id uuid not null,
  identity_data jsonb not null,
  provider text not null,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text generated always as (lower(identity_data ->> 'email')) stored,
  id uuid not null default gen_random_uuid(),
  constraint identities_pkey primary key (id),
  constraint identities_provider_id_provider_unique unique (provider_id, provider),
  constraint identities_user_id_fkey foreign key (user_id)
    references auth.users (id) on delete cascade
);
create index if not exists identities_user_id_idx on auth.identities (user_id);
create index if not exists identities_email_idx on auth.identities (email text_pattern_ops);

-- The OAuth 2.1 server's clients: `id` is the client_id an agent's tokens carry.
create table if not exists auth.oauth_clients (
  id uuid not null,
  client_secret_hash text,
  registration_type auth.oauth_registration_type not null,
  redirect_uris text not null,
  grant_types text not null,
  client_name text check (char_length(client_name) <= 1024),
  client_uri text check (char_length(client_uri) <= 2048),
  logo_uri text check (char_length(logo_uri) <= 2048),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz,
  client_type auth.oauth_client_type not null default 'confidential',
  token_endpoint_auth_method text not null
    check (token_endpoint_auth_method in ('client_secret_basic', 'client_secret_post', 'none')),
  constraint oauth_clients_pkey primary key (id)
);
create index if not exists oauth_clients_deleted_at_idx on auth.oauth_clients (deleted_at);

-- A signed-in session. An OAuth client's session names the client and the scopes granted; its
-- access tokens carry them as `client_id` and `scope`.
create table if not exists auth.sessions (
  id uuid not null,
  user_id uuid not null,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,
  aal auth.aal_level,
  not_after timestamptz,
  refreshed_at timestamp without time zone,
  user_agent text,
  ip inet,
  tag text,
  oauth_client_id uuid,
  refresh_token_hmac_key text,
  refresh_token_counter bigint,
  scopes text check (char_length(scopes) <= 4096),
  constraint sessions_pkey primary key (id),
  constraint sessions_user_id_fkey foreign key (user_id)
    references auth.users (id) on delete cascade,
  constraint sessions_oauth_client_id_fkey foreign key (oauth_client_id)
    references auth.oauth_clients (id) on delete cascade
);
create index if not exists user_id_created_at_idx on auth.sessions (user_id, created_at);
create index if not exists sessions_user_id_idx on auth.sessions (user_id);
create index if not exists sessions_not_after_idx on auth.sessions (not_after desc);
create index if not exists sessions_oauth_client_id_idx on auth.sessions (oauth_client_id);

-- RLS on, no policies: only roles that bypass it (postgres, and security definer functions it
-- owns) read these; postgres may also pass SELECT on to others.
alter table auth.users enable row level security;
alter table auth.identities enable row level security;
alter table auth.oauth_clients enable row level security;
alter table auth.sessions enable row level security;
grant select on auth.users, auth.identities, auth.oauth_clients, auth.sessions
  to postgres with grant option;

-- The request's JWT claims, as PostgREST 12 sets them (`request.jwt.claims`), with the legacy
-- per-claim settings as a fallback, like Supabase Auth's own definitions.
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

grant execute on function auth.jwt(), auth.uid(), auth.role(), auth.email()
  to anon, authenticated, service_role;

reset role;
