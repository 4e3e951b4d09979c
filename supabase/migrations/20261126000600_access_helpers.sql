-- =============================================================================================
-- Helpers for RLS policies: who the caller is a member of, what their token may do
-- =============================================================================================

-- The workspaces where the caller holds one of `roles`.
-- security definer: policies on workspace_members would otherwise recurse into themselves. It runs
-- as the table owner (RLS bypassed) but only ever answers for auth.uid(), the verified caller.
-- Policies call it as `workspace_id in (select private.caller_workspace_ids(...))`, which Postgres
-- evaluates once per statement rather than once per row.
create function private.caller_workspace_ids(roles public.workspace_role[])
returns setof uuid
language sql
stable
security definer
set search_path = ''
as $$
  select m.workspace_id
  from public.workspace_members m
  where m.user_id = (select auth.uid())
    and m.role = any (roles)
$$;
revoke execute on function private.caller_workspace_ids(public.workspace_role[]) from public;
grant execute on function private.caller_workspace_ids(public.workspace_role[])
  to authenticated, service_role;

-- Whether the caller's token allows `required` ('knowledge:read' or 'knowledge:write').
-- Tokens issued to OAuth clients (agents) carry a space-separated `scope` claim and get only what
-- it grants; 'knowledge:write' implies read. First-party session tokens have no `scope` claim and
-- keep their user's full rights.
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
