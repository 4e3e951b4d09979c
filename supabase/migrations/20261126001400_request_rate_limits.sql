-- =============================================================================================
-- Per-user request rate limits, enforced by PostgREST's db-pre-request hook
-- =============================================================================================
-- The counters live in Postgres, so a limit holds across any number of edge instances and also
-- covers clients that call PostgREST directly. PostgREST runs this function before every request,
-- in the request's own transaction, as the request's role.
--
-- What it limits: writes (every ingest, change and delete), the requests that cost embeddings,
-- storage and index maintenance. GET/HEAD requests and calls of stable functions (searches) run
-- in a READ ONLY transaction where no counter can be written, so reads are not limited here; a
-- refused write is rolled back with its request, so it does not count either.

-- Counters are disposable: unlogged (no WAL), one row per user per minute.
create unlogged table private.request_counts (
  user_id uuid not null,
  window_start timestamptz not null,
  requests integer not null default 0,
  primary key (user_id, window_start)
);

create table private.rate_limits (
  singleton boolean primary key default true check (singleton),
  writes_per_minute integer not null default 600 check (writes_per_minute > 0)
);
insert into private.rate_limits default values;
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

-- Every request runs the hook as its own role, anon included (it returns at once for anon).
-- The function lives in `private`, which PostgREST does not expose, so it is not an endpoint.
grant usage on schema private to anon;
revoke execute on function private.check_request_rate() from public;
grant execute on function private.check_request_rate() to anon, authenticated, service_role;

alter role authenticator set pgrst.db_pre_request = 'private.check_request_rate';
notify pgrst, 'reload config';
