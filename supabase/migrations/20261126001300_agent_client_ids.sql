-- =============================================================================================
-- Telling agents apart: the OAuth client that created a document, and what agents may delete
-- =============================================================================================
-- Supabase Auth's OAuth server puts the client's id in `client_id` on tokens it issues to
-- third-party clients (agents); first-party session tokens have none. Recording it lets the
-- database answer "which agent wrote this?" and keep one agent from destroying what a person or
-- another agent wrote, whatever scope the user granted it.

alter table public.documents
  add column created_by_client text
    default (auth.jwt() ->> 'client_id')
    check (char_length(created_by_client) <= 200);
comment on column public.documents.created_by_client is
  'OAuth client_id of the agent that created the document; null when a person did.';
-- Not in the insert/update column grants: it always comes from the token, never from the client.

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

-- Replaces the delete policy of 20261126000800: the same rule for people, and for agents only
-- the documents that agent created.
drop policy "Owners and workspace editors can delete documents" on public.documents;

create policy "Owners and workspace editors can delete documents; agents only their own"
  on public.documents for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and (
      owner_id = (select auth.uid())
      or workspace_id in (select private.caller_workspace_ids('{owner,editor}'))
    )
    and (
      (select private.token_client_id()) is null
      or created_by_client = (select private.token_client_id())
    )
  );
