-- =============================================================================================
-- The edge's writers keep the text too
-- =============================================================================================
-- ingest_document and replace_document_chunks (20261126001100) take the document's text beside
-- its passages, so a document written by the edge can be re-chunked and re-embedded from source
-- (a model migration, 20261202000600) like one written by any other door. Text and passages land
-- in one transaction: the insert (or new text) marks the document pending and the passages that
-- follow mark it ready again (20261202000300), so the worker never sees it.
-- Same bodies otherwise. The old signatures go: PostgREST could not choose between two
-- functions that differ only by an optional argument.
-- =============================================================================================

drop function public.ingest_document(text, text, text, jsonb, text, text, jsonb, uuid);
drop function public.replace_document_chunks(uuid, text, jsonb);

create function public.ingest_document(
  title text,
  content_hash text,
  embedding_model text,
  chunks jsonb,
  source text default null,
  category text default null,
  metadata jsonb default '{}',
  workspace_id uuid default null,
  content text default null
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
    (title, content_hash, embedding_model, source, category, metadata, workspace_id, content)
  values
    (title, content_hash, embedding_model, source, category, coalesce(metadata, '{}'),
     workspace_id, content)
  on conflict on constraint documents_same_content_once do nothing
  returning d.id into new_id;

  if new_id is null then
    select d.id into existing_id
    from public.documents d
    where d.owner_id = (select auth.uid())
      and d.workspace_id is not distinct from workspace_id
      and d.content_hash = coalesce(
        encode(sha256(convert_to(content, 'UTF8')), 'hex'), content_hash);
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

create function public.replace_document_chunks(
  document_id uuid,
  content_hash text,
  chunks jsonb,
  content text default null
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
  -- The text goes with its passages (a caller that sends none leaves the document without text:
  -- the stored one no longer matches them).
  update public.documents d
     set content_hash = replace_document_chunks.content_hash,
         content = replace_document_chunks.content
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
