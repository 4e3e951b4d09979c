-- =============================================================================================
-- Request checks: what PostgREST runs before every request
-- =============================================================================================
-- PostgREST runs one function before every request (`db-pre-request`), in the request's own
-- transaction, as the request's role: private.before_request, at the end of this file. It is set
-- as a role setting of `authenticator` (`pgrst.db_pre_request`), which no schema diff sees: the
-- migration that follows the baseline sets it. The checks, in the order it runs them:
--   * the token's audience and issuer;
--   * the token's session still exists (signed-out sessions end at once, on every door);
--   * on a read replica, the caller's own last write is visible (read your writes);
--   * the caller's write rate;
--   * response headers saying which server answered, and the write's transaction id.

-- Every request runs the hook as its own role, anon included (it returns at once for anon). The
-- function lives in `private`, which PostgREST does not expose, so it is not an endpoint.
grant usage on schema private to anon;

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

-- ---------------------------------------------------------------------------------------------
-- Audience and issuer
-- ---------------------------------------------------------------------------------------------
-- PostgREST verifies a token's signature and expiry but, as configured on Supabase, not its
-- audience or issuer: a token minted for another purpose with the same key would pass. Supabase
-- Auth issues user tokens with aud "authenticated" and iss "<project URL>/auth/v1"; refuse others
-- (the expected values: private.token_settings, 10_caller_token.sql). While the issuer is null,
-- only the audience is checked.
create function private.check_token_claims()
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  claims jsonb := (select auth.jwt());
  expected record;
begin
  if claims is null or (select auth.role()) <> 'authenticated' then
    return;
  end if;
  select s.audience, s.issuer into expected from private.token_settings s;
  -- aud may be a string or an array of strings (RFC 7519 section 4.1.3).
  if not coalesce(
       case jsonb_typeof(claims -> 'aud')
         when 'string' then claims ->> 'aud' = expected.audience
         when 'array' then (claims -> 'aud') ? expected.audience
         else false
       end, false)
     or (expected.issuer is not null and claims ->> 'iss' is distinct from expected.issuer) then
    perform private.refuse_token(
      'invalid_token', 'the token was not issued for this project (audience or issuer)',
      'wrong audience or issuer'
    );
  end if;
end
$$;
revoke execute on function private.check_token_claims() from public;

-- ---------------------------------------------------------------------------------------------
-- Signed-out sessions
-- ---------------------------------------------------------------------------------------------
-- An access token stays cryptographically valid until it expires, even after its user signs out
-- (Supabase Auth deletes the session row) or an admin revokes the session. PostgREST cannot know
-- that by itself; this check refuses tokens whose session is gone.
-- On a read replica a sign-out arrives after the replay lag (milliseconds here), so a token
-- signed out that instant may still read there that long; writes always meet the primary, which
-- refuses it at once. A sign-in arrives late too: a replica that has not replayed past the
-- token's issue time cannot tell a new session from a revoked one, so it answers 412
-- `replica_behind` and the primary decides (without this, the first search of a fresh sign-in
-- was refused as "session revoked" whenever it beat the replay:
-- tests/local_stack/test_replicas.py).
create function private.check_session_is_live()
returns void
language plpgsql
stable
-- Definer: auth.sessions is Supabase Auth's table; API roles cannot read it.
security definer
set search_path = ''
as $$
declare
  claims jsonb := (select auth.jwt());
  session text := claims ->> 'session_id';
  issued timestamptz;
begin
  if session is null or (select auth.role()) <> 'authenticated' then
    return;
  end if;
  if session !~ '^[0-9a-fA-F-]{36}$'
     or not exists (select 1 from auth.sessions s where s.id = session::uuid) then
    if pg_is_in_recovery() then
      if jsonb_typeof(claims -> 'iat') = 'number' then
        issued := to_timestamp((claims ->> 'iat')::double precision);
      end if;
      -- Five seconds of slack for the clocks of Auth and the database: when in doubt the
      -- primary answers, which costs a retry, never a wrong answer.
      if issued is null
         or issued + interval '5 seconds' > coalesce(pg_last_xact_replay_timestamp(), '-infinity')
      then
        perform private.refuse_read(
          'replica_behind', 'this replica has not yet replayed the sign-in of this token', 412);
      end if;
    end if;
    perform private.refuse_token(
      'session_revoked', 'the session of this token has ended; sign in again', 'session revoked'
    );
  end if;
end
$$;
revoke execute on function private.check_session_is_live() from public;

-- ---------------------------------------------------------------------------------------------
-- Per-user write rate limits
-- ---------------------------------------------------------------------------------------------
-- The counters live in Postgres, so a limit holds across any number of edge instances and also
-- covers clients that call PostgREST directly. What it limits: writes (every ingest, change and
-- delete), the requests that cost embeddings, storage and index maintenance. GET/HEAD requests
-- and calls of stable functions (searches) run in a READ ONLY transaction where no counter can be
-- written (on a replica, every request is), so reads are not limited here; a refused write is
-- rolled back with its request, so it does not count either.

-- Counters are disposable: unlogged (no WAL), one row per user per minute.
create unlogged table private.request_counts (
  user_id uuid not null,
  window_start timestamptz not null,
  requests integer not null default 0,
  primary key (user_id, window_start)
);

-- Its one row is written by the migration that follows the baseline.
create table private.rate_limits (
  singleton boolean primary key default true check (singleton),
  writes_per_minute integer not null default 600 check (writes_per_minute > 0)
);
comment on table private.rate_limits is
  'One row: how many writes a minute each user may make through PostgREST.';

create function private.check_request_rate()
returns void
language plpgsql
volatile
-- Definer: API roles may not touch the counters themselves.
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  current_window timestamptz := date_trunc('minute', now());
  allowed integer;
  used integer;
  retry_after integer;
begin
  if caller is null or (select auth.role()) = 'service_role'
     or current_setting('transaction_read_only') = 'on' then
    return;
  end if;
  select writes_per_minute into allowed from private.rate_limits;

  insert into private.request_counts as r (user_id, window_start, requests)
  values (caller, current_window, 1)
  on conflict (user_id, window_start) do update set requests = r.requests + 1
  returning r.requests into used;
  -- Now and then, forget finished windows.
  if random() < 0.01 then
    delete from private.request_counts where window_start < current_window - interval '2 minutes';
  end if;

  if used > allowed then
    retry_after := greatest(1, ceil(extract(epoch from
      current_window + interval '1 minute' - clock_timestamp()))::integer);
    -- SQLSTATE PGRST: PostgREST answers with this status, headers and JSON body.
    raise sqlstate 'PGRST' using
      message = json_build_object(
        'code', 'rate_limited',
        'message', format('more than %s writes in a minute', allowed),
        'details', null,
        'hint', format('retry after %s seconds', retry_after))::text,
      detail = json_build_object(
        'status', 429,
        'headers', json_build_object('Retry-After', retry_after::text))::text;
  end if;
end
$$;
revoke execute on function private.check_request_rate() from public;

-- ---------------------------------------------------------------------------------------------
-- Reads on read replicas: read your own writes, and where the request ran
-- ---------------------------------------------------------------------------------------------
-- Hosted Supabase's API load balancer sends GET requests to read replicas and everything else to
-- the primary; the local stack's gateway does the same (kb-stack start --replicas N). The
-- searches are `stable`, so PostgREST serves them by GET too, in a READ ONLY transaction. The
-- checks above read replicated tables (token_settings, auth.sessions) and write nothing there.
--
-- A replica replays the primary's WAL a little later; a caller who wrote and reads at once could
-- miss their own write there. Every read-write request answers with `X-Kb-Write-Xid`, the id of
-- its transaction (xid8, never reused). A caller that sends it back as `X-Kb-After-Xid` on a read
-- is answered only by a database whose snapshot already shows that transaction as finished; a
-- replica that has not replayed it yet refuses with 412 `replica_behind`, and the caller reads
-- from the primary instead (`X-Kb-Read-From: primary`, which the gateway routes there). The
-- primary never refuses: it has every finished transaction. Why a transaction id, not a WAL
-- position (LSN): a request cannot know the LSN of its own commit record, which is written after
-- its last statement; "is this xid visible to my snapshot" is the exact question, asked of the
-- same snapshot machinery the search then uses.

-- 412 (or 400), PostgREST's way (SQLSTATE PGRST sets status and body), naming the header.
create function private.refuse_read(code text, message text, status integer)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  raise sqlstate 'PGRST' using
    message = json_build_object(
      'code', code, 'message', message, 'details', null,
      'hint', case when status = 412
        then 'read from the primary: send the request again with X-Kb-Read-From: primary'
      end)::text,
    detail = json_build_object('status', status, 'headers', json_build_object())::text;
end
$$;
revoke execute on function private.refuse_read(text, text, integer) from public;

create function private.check_read_after_write()
returns void
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  wanted text := nullif(current_setting('request.headers', true), '')::json ->> 'x-kb-after-xid';
begin
  if wanted is null then
    return;
  end if;
  if wanted !~ '^[0-9]{1,19}$' then
    perform private.refuse_read(
      'invalid_header', 'X-Kb-After-Xid must be a transaction id (digits), as X-Kb-Write-Xid gave it',
      400);
  end if;
  -- The primary has every finished transaction: nothing to wait for there.
  if not pg_is_in_recovery() then
    return;
  end if;
  if not pg_visible_in_snapshot(wanted::xid8, pg_current_snapshot()) then
    perform private.refuse_read(
      'replica_behind',
      format('this replica has not yet replayed transaction %s (X-Kb-After-Xid)', wanted), 412);
  end if;
end
$$;
revoke execute on function private.check_read_after_write() from public;

-- Response headers every request gets: which kind of server answered it (read from the server
-- itself, so tests and operators see where a request really ran), and, for read-write requests,
-- the id of the transaction a later read must see.
create function private.tell_the_caller()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  -- PostgREST wants an array of objects with one key each.
  headers jsonb := jsonb_build_array(jsonb_build_object(
    'X-Kb-Served-By', case when pg_is_in_recovery() then 'replica' else 'primary' end));
begin
  if current_setting('transaction_read_only') = 'off' then
    headers := headers || jsonb_build_array(
      jsonb_build_object('X-Kb-Write-Xid', pg_current_xact_id()::text));
  end if;
  perform set_config('response.headers', headers::text, true);
end
$$;
revoke execute on function private.tell_the_caller() from public;

-- ---------------------------------------------------------------------------------------------
-- The hook
-- ---------------------------------------------------------------------------------------------
-- PostgREST takes one pre-request function: it runs the checks in order. Definer, so the
-- request's role (anon included) needs to reach only this one function.
create function private.before_request()
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform private.check_token_claims();
  perform private.check_session_is_live();
  perform private.check_read_after_write();
  perform private.check_request_rate();
  perform private.tell_the_caller();
end
$$;
revoke execute on function private.before_request() from public;
grant execute on function private.before_request() to anon, authenticated, service_role;
