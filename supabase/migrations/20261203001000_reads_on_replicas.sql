-- =============================================================================================
-- Reads on read replicas: the pre-request checks on a standby, and reading one's own writes
-- =============================================================================================
-- Hosted Supabase's API load balancer sends GET requests to read replicas and everything else
-- to the primary; the local stack's gateway does the same (kb-stack start --replicas N). The
-- searches are `stable`, so PostgREST serves them by GET too, in a READ ONLY transaction.
--
-- What PostgREST's pre-request hook (private.before_request) does on a replica, check by check:
--   * token audience/issuer: reads private.token_settings, replicated like any table.
--   * revoked sessions: reads auth.sessions. A sign-out reaches a replica after its replay lag
--     (README "Read replicas": milliseconds here), so a token signed out that instant may still
--     read there that long; writes always meet the primary, which refuses it at once. A sign-in
--     reaches it late too: a replica that has not replayed past the token's issue time cannot
--     tell a new session from a revoked one, so it answers 412 `replica_behind` (below) and the
--     primary decides. Measured: without this, the first search of a fresh sign-in was refused
--     as "session revoked" whenever it beat the replay (tests/local_stack/test_replicas.py).
--   * write rate limits: counting is a write, and a standby (and any GET on the primary) runs
--     the request READ ONLY; check_request_rate() already returns at once in a read-only
--     transaction, so nothing is written on a replica. Nothing is lost by it: reads were never
--     counted (20261126001400), on the primary neither, and every write still goes to the
--     primary, where it is counted as before. Measured: the hook runs on a replica without an
--     error for every read (tests/local_stack/test_replicas.py).
-- And two new ones, below: where the request ran, and read-your-writes.
--
-- Read your own writes. A replica replays the primary's WAL a little later; a caller who wrote
-- and reads at once could miss their own write there. Every read-write request answers with
-- `X-Kb-Write-Xid`, the id of its transaction (xid8, never reused). A caller that sends it back
-- as `X-Kb-After-Xid` on a read is answered only by a database whose snapshot already shows that
-- transaction as finished; a replica that has not replayed it yet refuses with 412
-- `replica_behind`, and the caller reads from the primary instead (`X-Kb-Read-From: primary`,
-- which the gateway routes there). The primary never refuses: it has every finished transaction.
-- Why a transaction id, not a WAL position (LSN): a request cannot know the LSN of its own commit
-- record, which is written after its last statement; "is this xid visible to my snapshot" is the
-- exact question, asked of the same snapshot machinery the search then uses.

-- 412, PostgREST's way (SQLSTATE PGRST sets status and body), naming the header.
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

-- The session check of 20261126001500, able to say "not yet" on a replica.
create or replace function private.check_session_is_live()
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

-- Response headers every request gets: which kind of server answered it (read from the server
-- itself, so tests and operators see where a request really ran), and, for read-write
-- requests, the id of the transaction a later read must see.
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

create or replace function private.before_request()
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

notify pgrst, 'reload config';
