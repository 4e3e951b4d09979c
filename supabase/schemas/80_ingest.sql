-- =============================================================================================
-- Ingest: one call that stores a document's text, once
-- =============================================================================================
-- Every door writes text and the database gets it embedded: the insert marks the document
-- pending and queues it, and the embedding worker chunks it (by the file's sections when it has
-- them) and writes its passages (85_embedding_queue.sql). The edge (API, MCP, CLI) calls this
-- function rather than inserting directly for one reason: a retry must find the document it
-- already made instead of failing on the unique key, in one round trip. It runs as the caller:
-- the documents policies decide, as for any other write, and a refused or invalid write (a
-- layout that does not fit the text, a title too long) leaves nothing behind.

-- Idempotent: the same text ingested again into the same place (same owner, workspace and text)
-- returns the existing document instead of a copy, so a client may retry freely; if that
-- document had failed to embed, writing its text again asks for another try (the text trigger,
-- 30_documents.sql). Returns the document's status, so a caller can tell at once whether it must
-- wait for it (`pending`).
create function public.ingest_document(
  title text,
  content text,
  source text default null,
  category text default null,
  metadata jsonb default '{}',
  workspace_id uuid default null,
  sections jsonb default null
)
returns table (
  document_id uuid,
  created boolean,
  embedding_status text,
  embedding_error text,
  embedding_model text,
  passages_embedded integer,
  passages_total integer
)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_variable
declare
  new_id uuid;
  existing public.documents;
begin
  if content is null then
    raise exception 'content is required: the document''s text' using errcode = '22023';
  end if;

  insert into public.documents as d
    (title, content, source, category, metadata, workspace_id, sections)
  values
    (title, content, source, category, coalesce(metadata, '{}'), workspace_id, sections)
  on conflict on constraint documents_same_content_once do nothing
  returning d.id into new_id;

  if new_id is not null then
    return query
      select d.id, true, d.embedding_status, d.embedding_error, d.embedding_model,
             d.passages_embedded, d.passages_total
      from public.documents d where d.id = new_id;
    return;
  end if;

  select d.* into existing
  from public.documents d
  where d.owner_id = (select auth.uid())
    and d.workspace_id is not distinct from workspace_id
    and d.content_hash = encode(sha256(convert_to(content, 'UTF8')), 'hex');
  if existing.embedding_status = 'failed' then
    update public.documents d set content = existing.content where d.id = existing.id
    returning d.* into existing;
  end if;
  return query
    select existing.id, false, existing.embedding_status, existing.embedding_error,
           existing.embedding_model, existing.passages_embedded, existing.passages_total;
end
$$;
comment on function public.ingest_document is
  'Store a document''s text (and its file''s layout) for embedding; returns the existing one for a retry.';
revoke execute on function public.ingest_document from public, anon;
grant execute on function public.ingest_document to authenticated, service_role;
