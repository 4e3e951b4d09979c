-- =============================================================================================
-- Model migration: re-embed every document with the project's new model, in the background
-- =============================================================================================
-- One step, run by the database owner (SQL editor, psql, or a migration):
--   select private.set_embedding_model('text-embedding-3-small');
-- It records the project's new model, gives it its own HNSW graph (add_embedding_model), and
-- queues every document that has text and passages of another model. Workers running the new
-- model (EMBEDDING_PROVIDER / EMBEDDING_MODEL) then re-embed them; a worker of another model
-- leaves them alone. Each document keeps its old passages, searchable with the old model, until
-- its new passages are complete; then complete_embedding_work swaps them in one transaction.
-- So searches never fail and never mix models: a search with the old model finds the documents
-- not yet migrated, one with the new model those already done. Switch the edge's model when
-- the progress query (README, "Changing the embedding model") shows nothing pending.
--
-- Documents without text (written before 20261202000100 by the edge) cannot be re-embedded from
-- source; they are left as they are and counted in the notice.
-- =============================================================================================

create function private.set_embedding_model(model text, storage text default 'halfvec')
returns integer
language plpgsql
set search_path = ''
as $$
declare
  queued integer;
  without_text integer;
begin
  if model is null or char_length(model) not between 1 and 200 then
    raise exception 'model must be 1 to 200 characters' using errcode = '22023';
  end if;
  update private.project_settings s set embedding_model = model, updated_at = now();
  perform private.add_embedding_model(model, storage);

  -- Marking a document pending queues it for the project's (new) model (queue_embedding); its
  -- passages stay in place and searchable meanwhile.
  update public.documents d
     set embedding_status = 'pending', embedding_error = null
   where d.embedding_model <> model
     and d.content is not null;
  get diagnostics queued = row_count;
  -- Documents already waiting (for the old model) wait for the new one instead.
  update private.embedding_queue q
     set model = set_embedding_model.model, attempts = 0, not_before = now(),
         lease_token = null, leased_by = null, lease_expires_at = null
   where q.model <> set_embedding_model.model;
  perform pg_notify('kb_embedding_work', model);

  select count(*) into without_text
    from public.documents d
   where d.embedding_model <> model and d.content is null;
  if without_text > 0 then
    raise notice '% documents have no stored text and keep their % passages', without_text,
      'old model''s';
  end if;
  return queued;
end
$$;
revoke execute on function private.set_embedding_model(text, text)
  from public, anon, authenticated, service_role;
comment on function private.set_embedding_model(text, text) is
  'Change the project''s embedding model and queue every document for re-embedding (owner only).';
