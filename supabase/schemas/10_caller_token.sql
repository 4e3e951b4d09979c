-- =============================================================================================
-- What the caller's token allows: the user's own session, or an agent the user let in
-- =============================================================================================
-- People sign in to their own apps through Supabase Auth: those tokens (first-party sessions)
-- carry no `client_id` and act with their user's full rights. Agents (MCP clients, any
-- third-party app) sign in through Supabase Auth's OAuth 2.1 server: their tokens carry the OAuth
-- client's `client_id` and OIDC scopes only ("openid email"): Supabase Auth refuses any other
-- scope, and its docs say scopes control OIDC data, not database access. So how far an agent may
-- go is the user's decision, recorded here as a grant (read or write) to one client, which the
-- user makes on the consent page (api/consent/), changes and revokes; without one an agent gets
-- nothing. Policies ask the helpers below, so the rule about tokens is written here once.

-- ---------------------------------------------------------------------------------------------
-- Token settings, per project
-- ---------------------------------------------------------------------------------------------
-- audience, issuer: what every user token must carry (checked before each request,
-- 95_request_checks.sql). Supabase Auth issues aud "authenticated" and iss
-- "<project URL>/auth/v1"; the issuer is deployment-specific, set once per project (the local
-- stack does it itself; docs/deploy.md), and unchecked while null:
--   update private.token_settings set issuer = 'https://<ref>.supabase.co/auth/v1';
-- knowledge_scopes: whether tokens come from an authorization server that issues this project's
-- own scopes, knowledge:read and knowledge:write (Supabase Auth never does). Only then does a
-- token's `scope` claim open anything; off, only the user's grants do.
-- The one row is written by the migration that follows the baseline.
create table private.token_settings (
  singleton boolean primary key default true check (singleton),
  audience text not null default 'authenticated',
  issuer text,
  knowledge_scopes boolean not null default false
);
comment on table private.token_settings is
  'One row: the aud every user token must carry, the iss (when set), and whether knowledge:* scopes are honoured.';

-- ---------------------------------------------------------------------------------------------
-- agent_grants: which OAuth clients a user lets at their knowledge, and how far
-- ---------------------------------------------------------------------------------------------
-- read: the agent reads what its user may read. write: it also writes what its user may write
-- (and deletes only what it created, 30_documents.sql). One row per user and client; deleting it
-- revokes the grant for the agent's very next statement. The grant opens only its own user's
-- knowledge: another user's grant of the same client is theirs alone.
create table public.agent_grants (
  -- Supabase Auth's oauth_clients.id: the `client_id` claim of the agent's tokens.
  client_id uuid not null,
  access text not null check (access in ('read', 'write')),
  -- The client's name as the consent page showed it, so the user recognises the grant later.
  client_name text check (char_length(client_name) between 1 and 200),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The user who granted it: the caller, from the token. (Last: where the differ puts a column
  -- whose default calls a function, docs/database.md.)
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  primary key (user_id, client_id)
);
comment on table public.agent_grants is
  'OAuth clients (agents) a user lets read or write their knowledge; managed only from the user''s own session.';

create trigger agent_grants_touch_updated_at
  before update on public.agent_grants
  for each row execute function private.touch_updated_at();

-- The OAuth client (agent) the token was issued to; null for a person's own session. Recorded on
-- the documents an agent creates, and what limits an agent to deleting its own.
create function private.token_client_id()
returns text
language sql
stable
set search_path = ''
as $$
  select (select auth.jwt()) ->> 'client_id'
$$;
revoke execute on function private.token_client_id() from public;
grant execute on function private.token_client_id() to authenticated, service_role;

-- Whether the caller may change content whose document `creator` made (its created_by_client):
-- a person's own session, whatever their policies allow; an agent, only what that agent created.
-- One agent can then neither rewrite nor empty what a person or another agent wrote, through any
-- door: the documents' update and delete policies and every write on passages ask this.
create function private.caller_may_change(creator text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select (select private.token_client_id()) is null
      or creator = (select private.token_client_id())
$$;
revoke execute on function private.caller_may_change(text) from public;
grant execute on function private.caller_may_change(text) to authenticated, service_role;

-- Whether the caller's token allows `required` ('knowledge:read' or 'knowledge:write'; write
-- implies read):
--   * a token naming knowledge:* scopes, where the project says an authorization server issues
--     them (private.token_settings.knowledge_scopes): what its scopes say;
--   * a person's own session (no client_id; Supabase's docs: a direct user session): yes;
--   * an agent: what its user granted this client in agent_grants; no grant, no.
-- security definer: it reads agent_grants whatever that table's policies show the caller (an
-- agent sees only its own grant). It answers for auth.uid() and the token's own client only.
-- Policies call it as `(select private.token_allows(...))`: once per statement (an InitPlan).
create function private.token_allows(required text)
returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select case
    when coalesce(s.knowledge_scopes, false)
         and t.scopes && array['knowledge:read', 'knowledge:write'] then
      t.scopes && case required
                    when 'knowledge:read' then array['knowledge:read', 'knowledge:write']
                    else array[required]
                  end
    when t.client is null then true
    else exists (
      select 1
      from public.agent_grants g
      where g.user_id = (select auth.uid())
        and g.client_id::text = t.client
        and (g.access = 'write' or required = 'knowledge:read')
    )
  end
  from (select string_to_array((select auth.jwt()) ->> 'scope', ' ') as scopes,
               (select auth.jwt()) ->> 'client_id' as client) t
  left join private.token_settings s on s.singleton
$$;
revoke execute on function private.token_allows(text) from public;
grant execute on function private.token_allows(text) to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies of agent_grants
-- ---------------------------------------------------------------------------------------------
-- Written by supabase-js as `upsert({client_id, access, client_name})` (the conflict target is the
-- primary key; user_id comes from the token), changed and deleted the same way.
alter table public.agent_grants enable row level security;
revoke all on public.agent_grants from anon, authenticated, service_role;
grant select, delete on public.agent_grants to authenticated;
grant insert (user_id, client_id, access, client_name) on public.agent_grants to authenticated;
grant update (user_id, client_id, access, client_name) on public.agent_grants to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.agent_grants to service_role;

-- An agent may see its own grant (to tell its user what it may do), never the user's others.
create policy "Users see their agent grants; an agent sees its own"
  on public.agent_grants for select to authenticated
  using (
    user_id = (select auth.uid())
    and (
      (select private.token_client_id()) is null
      or client_id::text = (select private.token_client_id())
    )
  );

-- Only the user's own session grants, changes or revokes: an agent can never grant itself (or
-- another agent) anything, whatever its grant.
create policy "Users grant agents access from their own session"
  on public.agent_grants for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and (select private.token_client_id()) is null
  );

create policy "Users change their agent grants from their own session"
  on public.agent_grants for update to authenticated
  using (
    user_id = (select auth.uid())
    and (select private.token_client_id()) is null
  )
  with check (
    user_id = (select auth.uid())
    and (select private.token_client_id()) is null
  );

create policy "Users revoke their agent grants from their own session"
  on public.agent_grants for delete to authenticated
  using (
    user_id = (select auth.uid())
    and (select private.token_client_id()) is null
  );
