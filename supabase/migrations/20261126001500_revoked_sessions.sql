-- =============================================================================================
-- Signed-out sessions end at once, on every door
-- =============================================================================================
-- An access token stays cryptographically valid until it expires, even after its user signs out
-- (Supabase Auth deletes the session row) or an admin revokes the session. PostgREST cannot know
-- that by itself; this check, run before every request, refuses tokens whose session is gone.

-- Answer 401 the way PostgREST does for a bad token: SQLSTATE PGRST sets status, headers, body.
create function private.refuse_token(code text, message text, description text)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', code, 'message', message, 'details', null, 'hint', null)::text,
    detail = json_build_object(
      'status', 401,
      'headers', json_build_object(
        'WWW-Authenticate',
        format('Bearer error="invalid_token", error_description="%s"', description)))::text;
end
$$;
revoke execute on function private.refuse_token(text, text, text) from public;

create function private.check_session_is_live()
returns void
language plpgsql
stable
-- Definer: auth.sessions is Supabase Auth's table; API roles cannot read it.
security definer
set search_path = ''
as $$
declare
  session text := (select auth.jwt()) ->> 'session_id';
begin
  if session is null or (select auth.role()) <> 'authenticated' then
    return;
  end if;
  if session !~ '^[0-9a-fA-F-]{36}$'
     or not exists (select 1 from auth.sessions s where s.id = session::uuid) then
    perform private.refuse_token(
      'session_revoked', 'the session of this token has ended; sign in again', 'session revoked'
    );
  end if;
end
$$;
revoke execute on function private.check_session_is_live() from public;

-- PostgREST takes one pre-request function: it runs the checks in order. Definer, so the request's
-- role (anon included) needs to reach only this one function.
create function private.before_request()
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.check_session_is_live();
  perform private.check_request_rate();
end
$$;
revoke execute on function private.before_request() from public;
grant execute on function private.before_request() to anon, authenticated, service_role;
revoke execute on function private.check_request_rate() from anon, authenticated, service_role;

alter role authenticator set pgrst.db_pre_request = 'private.before_request';
notify pgrst, 'reload config';
