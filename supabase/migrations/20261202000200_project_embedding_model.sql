-- =============================================================================================
-- The project's embedding model
-- =============================================================================================
-- Automatic embeddings need one answer to "which model embeds a document nobody embedded?": the
-- project's model, kept here. It is the default model of a document written without one (a plain
-- supabase-js insert), the model the worker is asked for, and what a model migration
-- (20261202000700) changes. Clients that embed themselves (the edge, LangChain) keep stating their
-- own model per document; vectors of two models are never mixed silently (search filters on it).
-- =============================================================================================

create table private.project_settings (
  -- One row: the project's settings.
  singleton boolean primary key default true check (singleton),
  embedding_model text not null check (char_length(embedding_model) between 1 and 200),
  updated_at timestamptz not null default now()
);
comment on table private.project_settings is
  'Project-wide settings (one row); embedding_model: the model automatic embeddings use.';

-- The local stack's and the edge's default model (knowledge_core: LocalEmbedder).
insert into private.project_settings (embedding_model) values ('all-MiniLM-L6-v2');

-- Column defaults are evaluated as the inserting role: callers read the (non-secret) setting.
grant select on private.project_settings to authenticated, service_role;

create function private.project_embedding_model()
returns text
language sql
stable
set search_path = ''
as $$
  select s.embedding_model from private.project_settings s
$$;
revoke execute on function private.project_embedding_model() from public;
grant execute on function private.project_embedding_model() to authenticated, service_role;

alter table public.documents
  alter column embedding_model set default private.project_embedding_model();
