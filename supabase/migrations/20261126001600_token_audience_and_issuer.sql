-- =============================================================================================
-- Audience and issuer, checked where every door passes
-- =============================================================================================
-- PostgREST verifies a token's signature and expiry but, as configured on Supabase, not its
-- audience or issuer: a token minted for another purpose with the same key would pass. Supabase
-- Auth issues user tokens with aud "authenticated" and iss "<project URL>/auth/v1"; refuse others.
-- The issuer is deployment-specific: set it once per project (the local stack does this itself):
--   update private.token_settings set issuer = 'https://<ref>.supabase.co/auth/v1';
-- While it is null, only the audience is checked.

create table private.token_settings (
  singleton boolean primary key default true check (singleton),
  audience text not null default 'authenticated',
  issuer text
);
insert into private.token_settings default values;
comment on table private.token_settings is
  'One row: the aud every user token must carry, and the iss (when set).';

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
  perform private.check_request_rate();
end
$$;
