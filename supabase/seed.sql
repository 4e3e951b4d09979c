-- Demo data for local development, loaded after the migrations on the first start and on reset.
-- Two users and a shared workspace: alice owns it, bob can read it. Get a token for either with
-- `kb-stack user alice@example.com`. Documents are added through the API or CLI, which embed them.

insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at, raw_app_meta_data,
                        raw_user_meta_data)
values
  ('00000000-0000-0000-0000-000000000000', 'a11ce000-0000-4000-8000-000000000001',
   'authenticated', 'authenticated', 'alice@example.com', now(),
   '{"provider": "email", "providers": ["email"]}', '{"name": "Alice"}'),
  ('00000000-0000-0000-0000-000000000000', 'b0b00000-0000-4000-8000-000000000002',
   'authenticated', 'authenticated', 'bob@example.com', now(),
   '{"provider": "email", "providers": ["email"]}', '{"name": "Bob"}')
on conflict (id) do nothing;

insert into public.workspaces (id, name, created_by)
values ('de300000-0000-4000-8000-000000000003', 'Demo team', 'a11ce000-0000-4000-8000-000000000001')
on conflict (id) do nothing;

-- The creation trigger made alice the owner; bob joins as a viewer.
insert into public.workspace_members (workspace_id, user_id, role)
values ('de300000-0000-4000-8000-000000000003', 'b0b00000-0000-4000-8000-000000000002', 'viewer')
on conflict do nothing;
