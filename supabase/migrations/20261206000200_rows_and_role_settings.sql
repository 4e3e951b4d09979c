-- =============================================================================================
-- What no schema diff sees: the settings rows, the model registry, role settings
-- =============================================================================================
-- Hand-written, beside the generated baseline. A schema diff compares catalogs: it does not write
-- rows, and roles belong to the cluster, not to the database it reads. So these live here, and a
-- later change to any of them is a hand-written migration too (docs/database.md).

-- The embedding worker's statements: a claim or a swap of one document's passages takes
-- milliseconds; nothing it runs should hold the database longer (85_embedding_queue.sql).
alter role kb_embedding_worker set statement_timeout = '60s';

-- PostgREST's pre-request hook (95_request_checks.sql); supautils lets `postgres` set pgrst.*
-- role settings on hosted Supabase.
alter role authenticator set pgrst.db_pre_request = 'private.before_request';
notify pgrst, 'reload config';

-- Each settings table's one row, with its defaults: 600 writes a minute per user; tokens for the
-- audience "authenticated", issuer unchecked until a deployment sets its own.
insert into private.rate_limits default values;
insert into private.token_settings default values;

-- The local stack's and the edge's default model (knowledge_core: LocalEmbedder).
insert into private.project_settings (embedding_model) values ('all-MiniLM-L6-v2');

-- The three default models' graphs exist (50_embedding_models.sql); add_embedding_model finds
-- each by the name it would give it and records it in the registry.
select private.add_embedding_model('all-MiniLM-L6-v2');
select private.add_embedding_model('gte-small');
select private.add_embedding_model('text-embedding-3-small');
