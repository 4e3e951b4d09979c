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
--   * no count drawn from the planner's statistics;
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
-- that by itself; this check refuses tokens whose session is gone, and user tokens that name no
-- session at all.
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
  if (select auth.role()) is distinct from 'authenticated' then
    return;
  end if;
  -- Supabase Auth puts a session in every user token it issues (sign-ins, refreshes, anonymous
  -- users, its OAuth server's tokens). A token without one could never be signed out, so it is
  -- not taken: otherwise it would skip this check for ever.
  if session is null then
    perform private.refuse_token(
      'session_required', 'the token names no session (session_id); sign in again',
      'no session');
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
-- Counts come from the caller's rows, never from the planner
-- ---------------------------------------------------------------------------------------------
-- Postgres estimates a filter's rows from pg_statistic, gathered over every tenant's rows, and
-- RLS does not stand in the way: `=`, `<`, `<=` on uuid, text and timestamptz are leakproof, so
-- the estimate of `owner_id <= x` sees every owner. PostgREST hands that estimate to the caller
-- for `Prefer: count=planned`, and for `count=estimated` past max-rows: a stranger could learn
-- another tenant's volume, bisect their user id, list the models in use or the spread of their
-- titles (tests/hostile/test_statistics.py). API roles get exact counts only, which RLS filters.
-- service_role sees every row anyway; the planner's figure is its to have.
create function private.check_count_preference()
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  prefer text := nullif(current_setting('request.headers', true), '')::json ->> 'prefer';
begin
  if prefer ~* 'count\s*=\s*(planned|estimated)'
     and coalesce((select auth.role()), 'anon') in ('anon', 'authenticated') then
    perform private.refuse_read(
      'count_not_allowed',
      'Prefer: count=planned and count=estimated are refused here: the planner''s estimates '
      || 'are drawn from every tenant''s rows; ask for count=exact', 400);
  end if;
end
$$;
revoke execute on function private.check_count_preference() from public;

-- ---------------------------------------------------------------------------------------------
-- Per-user write rate limits
-- ---------------------------------------------------------------------------------------------
-- The counters live in Postgres, so a limit holds across any number of edge instances and also
-- covers clients that call PostgREST directly. What it limits: writes (every ingest, change and
-- delete), the requests that cost embeddings, storage and index maintenance. GET/HEAD requests
-- and calls of stable functions (searches) run in a READ ONLY transaction where no counter can be
-- written (on a replica, every request is), so reads are not limited here. A refused or
-- timed-out write is rolled back with its request, counter included: Postgres has no
-- autonomous transactions. The edge therefore reports each write the database refused through
-- public.count_refused_write (below); a client calling PostgREST directly pays for a refusal
-- with one policy check, as for a read (docs/security.md).

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
  -- mark_read_point (below) stores nothing: it is not a write to limit.
  if caller is null or (select auth.role()) = 'service_role'
     or current_setting('transaction_read_only') = 'on'
     or current_setting('request.path', true) = '/rpc/mark_read_point' then
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

-- Does nothing itself: calling it is a write request (POST to a volatile function), so the
-- pre-request check counts it against the caller's limit in a transaction of its own, which
-- commits. The edge calls it with the caller's token after the database refused one of their
-- writes, so refused and failed writes through the API and MCP count as writes.
create function public.count_refused_write()
returns void
language sql
volatile
set search_path = ''
as $$
  select
$$;
comment on function public.count_refused_write() is
  'Count one refused write against the caller''s write limit (the edge calls it).';
revoke execute on function public.count_refused_write() from public, anon;
grant execute on function public.count_refused_write() to authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Reads on read replicas: read your own writes, and where the request ran
-- ---------------------------------------------------------------------------------------------
-- Hosted Supabase's API load balancer sends GET requests to read replicas and everything else to
-- the primary; the local stack's gateway does the same (kb-stack start --replicas N). The
-- searches are `stable`, so PostgREST serves them by GET too, in a READ ONLY transaction. The
-- checks above read replicated tables (token_settings, auth.sessions) and write nothing there.
--
-- A replica replays the primary's WAL a little later; a caller who wrote and reads at once could
-- miss their own write there. Every read-write request of a signed-in user answers with
-- `X-Kb-Write-Xid`: that user's own write number (1, 2, 3, ...), counted in
-- private.write_marks in the same transaction as the write. A caller that sends it back as
-- `X-Kb-After-Xid` on a read is answered only by a database that already holds that number for
-- them, so it has the write too; a replica that has not replayed it yet refuses with 412
-- `replica_behind`, and the caller reads from the primary instead (`X-Kb-Read-From: primary`,
-- which the gateway routes there). The primary never refuses. The number is the caller's own:
-- the transaction id it used to be told them how busy the whole database was. A user's writes
-- take their numbers in commit order (the row lock is held to the end of the transaction), so a
-- larger number covers the smaller ones.

-- One row per user who wrote: the number of their latest write. Logged, so replicas have it.
create table private.write_marks (
  user_id uuid primary key references auth.users (id) on delete cascade,
  writes bigint not null
);
comment on table private.write_marks is
  'Per user, how many writes they made through PostgREST: read-your-writes on replicas.';

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
  if wanted !~ '^[0-9]{1,18}$' then
    perform private.refuse_read(
      'invalid_header', 'X-Kb-After-Xid must be a write number (digits), as X-Kb-Write-Xid gave it',
      400);
  end if;
  -- The primary has every finished write: nothing to wait for there.
  if not pg_is_in_recovery() then
    return;
  end if;
  if coalesce((select m.writes from private.write_marks m where m.user_id = (select auth.uid())),
              0) < wanted::bigint then
    perform private.refuse_read(
      'replica_behind',
      format('this replica has not yet replayed your write %s (X-Kb-After-Xid)', wanted), 412);
  end if;
end
$$;
revoke execute on function private.check_read_after_write() from public;

-- Response headers every request gets: which kind of server answered it (read from the server
-- itself, so tests and operators see where a request really ran), and, for a signed-in user's
-- read-write request, the number of this write that a later read must see.
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
  caller uuid := (select auth.uid());
  written bigint;
begin
  if current_setting('transaction_read_only') = 'off' and caller is not null then
    insert into private.write_marks as m (user_id, writes) values (caller, 1)
    on conflict (user_id) do update set writes = m.writes + 1
    returning m.writes into written;
    headers := headers || jsonb_build_array(
      jsonb_build_object('X-Kb-Write-Xid', written::text));
  end if;
  perform set_config('response.headers', headers::text, true);
end
$$;
revoke execute on function private.tell_the_caller() from public;

-- A read-write request that changes nothing itself, for a caller who saw a commit that was not
-- theirs and must keep seeing it: the edge, once the embedding worker has made a document it
-- waited for ready (the worker's transaction counts no user's writes). The answer's
-- X-Kb-Write-Xid (tell_the_caller) is a write number committed after what the caller saw, and a
-- replica replays commits in order: one that has the number has the passages too.
create function public.mark_read_point()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  return;
end
$$;
comment on function public.mark_read_point is
  'Answers with X-Kb-Write-Xid: later reads that send it see everything the caller has seen.';
revoke execute on function public.mark_read_point() from public, anon;
grant execute on function public.mark_read_point() to authenticated, service_role;

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
  perform private.check_count_preference();
  perform private.check_request_rate();
  perform private.tell_the_caller();
end
$$;
revoke execute on function private.before_request() from public;
grant execute on function private.before_request() to anon, authenticated, service_role;
