-- Demo data for local development, loaded after the migrations on the first start and on reset
-- (the embedded stack), and by `supabase start` / `supabase db reset` (Docker).
-- Two users and a shared workspace: alice owns it, bob can read it.
--   * Under `supabase start`, both sign in with Supabase Auth: email alice@example.com or
--     bob@example.com, password "knowledge-demo" (a demo password: never seed a real one).
--   * On the embedded stack (no Supabase Auth), get a token with `kb-stack user alice@example.com`.
-- Documents are added through the API or `kb`, which embed them.

-- Users as Supabase Auth's sign-up writes them, which is how it reads them back: the nil instance
-- id, aud and role "authenticated", '' (not NULL) in the token columns it scans into strings (a
-- NULL there makes every sign-in answer 500: supabase/auth#1940), timestamps, metadata objects,
-- a confirmed email, and a bcrypt hash (cost 10, GoTrue's own) of the demo password. The hash
-- is written out rather than computed: pgcrypto's crypt() is not on every Postgres this seed
-- runs on (the embedded stack has no pgcrypto); tests/database/test_seed.py checks it.
insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at,
                        confirmation_token, recovery_token, email_change_token_new, email_change,
                        raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
values
  ('00000000-0000-0000-0000-000000000000', 'a11ce000-0000-4000-8000-000000000001',
   'authenticated', 'authenticated', 'alice@example.com',
   '$2a$10$CGGwurWAvnXSgkCsnJc3zOHL9IVUKrGv4sADGUsNhQHWPmKCMtKvO', now(), '', '', '', '',
   '{"provider": "email", "providers": ["email"]}', '{"name": "Alice"}', now(), now()),
  ('00000000-0000-0000-0000-000000000000', 'b0b00000-0000-4000-8000-000000000002',
   'authenticated', 'authenticated', 'bob@example.com',
   '$2a$10$CGGwurWAvnXSgkCsnJc3zOHL9IVUKrGv4sADGUsNhQHWPmKCMtKvO', now(), '', '', '', '',
   '{"provider": "email", "providers": ["email"]}', '{"name": "Bob"}', now(), now())
on conflict (id) do nothing;

-- Each user's email identity, as Supabase Auth makes one at sign-up: provider 'email', the
-- user's id as provider_id, {sub, email} as identity data.
insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at,
                             created_at, updated_at)
select u.id::text, u.id,
       jsonb_build_object('sub', u.id::text, 'email', u.email, 'email_verified', true,
                          'phone_verified', false),
       'email', now(), now(), now()
from auth.users u
where u.id in ('a11ce000-0000-4000-8000-000000000001', 'b0b00000-0000-4000-8000-000000000002')
on conflict (provider_id, provider) do nothing;

insert into public.workspaces (id, name, created_by)
values ('de300000-0000-4000-8000-000000000003', 'Demo team', 'a11ce000-0000-4000-8000-000000000001')
on conflict (id) do nothing;

-- The creation trigger made alice the owner; bob joins as a viewer.
insert into public.workspace_members (workspace_id, user_id, role)
values ('de300000-0000-4000-8000-000000000003', 'b0b00000-0000-4000-8000-000000000002', 'viewer')
on conflict do nothing;
