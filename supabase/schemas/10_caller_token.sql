-- =============================================================================================
-- What the caller's token allows: scopes and the agent's client id
-- =============================================================================================
-- Supabase Auth's OAuth server issues agents (third-party OAuth clients) tokens with a
-- space-separated `scope` claim and a `client_id`; first-party session tokens have neither.
-- Policies ask these two helpers, so the rule about tokens is written here once.

-- Whether the caller's token allows `required` ('knowledge:read' or 'knowledge:write'). A token
-- with a `scope` claim gets only what it grants ('knowledge:write' implies read); a session
-- token without one keeps its user's full rights.
create function private.token_allows(required text)
returns boolean
language sql
stable
set search_path = ''
as $$
  select case
    when (select auth.jwt()) ? 'scope' then
      string_to_array(coalesce((select auth.jwt()) ->> 'scope', ''), ' ')
        && case required
             when 'knowledge:read' then array['knowledge:read', 'knowledge:write']
             else array[required]
           end
    else true
  end
$$;
revoke execute on function private.token_allows(text) from public;
grant execute on function private.token_allows(text) to authenticated, service_role;

-- The OAuth client (agent) the token was issued to; null for a person's session. Recorded on
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
