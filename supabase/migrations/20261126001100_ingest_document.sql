-- =============================================================================================
-- ingest_document: a document and all its chunks in one transaction
-- =============================================================================================
-- The edge chunks and embeds, then makes one call. Either every chunk lands with its document or
-- nothing does: a failure can never leave a half-written document behind.
-- Idempotent: the same text ingested again into the same place (same owner, workspace and
-- content hash) returns the existing document instead of a copy, so a client may retry freely.
-- Runs as the caller: the documents and chunks policies decide, as for any other write.
-- Both writers below take chunks as [{"content": ..., "embedding": [...]}, ...]; one check for both.
create function private.check_chunk_list(chunks jsonb)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if chunks is null or jsonb_typeof(chunks) <> 'array' or jsonb_array_length(chunks) = 0 then
    raise exception 'chunks must be a non-empty JSON array of {"content", "embedding"}'
      using errcode = '22023';
  end if;
  if jsonb_array_length(chunks) > 10000 then
    raise exception 'chunks must hold at most 10000 items, not %', jsonb_array_length(chunks)
      using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_chunk_list(jsonb) from public;
grant execute on function private.check_chunk_list(jsonb) to authenticated, service_role;

create function public.ingest_document(
  title text,
  content_hash text,
  embedding_model text,
  chunks jsonb,
  source text default null,
  category text default null,
  metadata jsonb default '{}',
  workspace_id uuid default null
)
returns table (document_id uuid, created boolean, chunk_count integer)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_variable
declare
  new_id uuid;
  existing_id uuid;
  inserted integer;
begin
  perform private.check_chunk_list(chunks);

  insert into public.documents as d
    (title, content_hash, embedding_model, source, category, metadata, workspace_id)
  values
    (title, content_hash, embedding_model, source, category, coalesce(metadata, '{}'),
     workspace_id)
  on conflict on constraint documents_same_content_once do nothing
  returning d.id into new_id;

  if new_id is null then
    select d.id into existing_id
    from public.documents d
    where d.owner_id = (select auth.uid())
      and d.workspace_id is not distinct from workspace_id
      and d.content_hash = content_hash;
    return query
      select existing_id, false,
             (select count(*)::integer from public.document_chunks c
              where c.document_id = existing_id);
    return;
  end if;

  insert into public.document_chunks (document_id, chunk_index, content, embedding)
  select new_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         (item.value -> 'embedding')::text::extensions.vector
  from jsonb_array_elements(chunks) with ordinality as item;
  get diagnostics inserted = row_count;

  return query select new_id, true, inserted;
end
$$;

comment on function public.ingest_document is
  'Store a document with its embedded chunks atomically; returns the existing one for a retry.';

revoke execute on function public.ingest_document from public, anon;
grant execute on function public.ingest_document to authenticated, service_role;

-- =============================================================================================
-- replace_document_chunks: new text for a document, re-embedding only what changed
-- =============================================================================================
-- Each item is {"content": ..., "embedding": [...] or null}. A null embedding means "this text is
-- unchanged": the vector already stored for the same text in this document is kept, so the edge
-- embeds only new passages. All chunks are swapped in one transaction, so readers see the old
-- text or the new, never a mix. Runs as the caller; editing rights come from the RLS policies.
create function public.replace_document_chunks(
  document_id uuid,
  content_hash text,
  chunks jsonb
)
returns table (chunk_count integer, reused integer)
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_variable
declare
  missing integer;
  inserted integer;
  kept integer;
  previous jsonb;
begin
  perform private.check_chunk_list(chunks);

  -- The caller must be allowed to edit the document (the policy's USING clause decides).
  update public.documents d
     set content_hash = replace_document_chunks.content_hash
   where d.id = document_id;
  if not found then
    -- 42501 (insufficient_privilege): PostgREST answers 403, as for any other RLS refusal.
    raise exception 'document % does not exist or you may not edit it', document_id
      using errcode = '42501';
  end if;

  select count(*) into missing
  from jsonb_array_elements(chunks) item
  where jsonb_typeof(item -> 'embedding') is distinct from 'array'
    and not exists (select 1 from public.document_chunks c
                    where c.document_id = document_id and c.content = item ->> 'content');
  if missing > 0 then
    raise exception '% chunks have no embedding and no stored chunk with the same text', missing
      using errcode = '22023';
  end if;

  -- Keep the stored vectors by text before the old chunks go.
  select coalesce(jsonb_object_agg(c.content, c.embedding::text), '{}')
    into previous
  from public.document_chunks c
  where c.document_id = document_id;

  delete from public.document_chunks c where c.document_id = document_id;

  insert into public.document_chunks (document_id, chunk_index, content, embedding)
  select document_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         case jsonb_typeof(item.value -> 'embedding')
           when 'array' then (item.value -> 'embedding')::text
           else previous ->> (item.value ->> 'content')
         end::extensions.vector
  from jsonb_array_elements(chunks) with ordinality as item;
  get diagnostics inserted = row_count;

  select count(*) into kept
  from jsonb_array_elements(chunks) item
  where jsonb_typeof(item -> 'embedding') is distinct from 'array';

  return query select inserted, kept;
end
$$;

comment on function public.replace_document_chunks is
  'Swap a document''s chunks atomically, keeping stored vectors for unchanged text.';

revoke execute on function public.replace_document_chunks from public, anon;
grant execute on function public.replace_document_chunks to authenticated, service_role;
