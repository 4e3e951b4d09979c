-- =============================================================================================
-- Where a passage sits in its file: page(s) of a PDF, heading path of HTML, DOCX or Markdown
-- =============================================================================================
-- A chunk's metadata is its document's, copied by a trigger so a client cannot give a chunk
-- another scope. Passages of an uploaded file also need their own location so an agent can cite
-- "page 12" or "Setup > Keys > Rotation". That location is its own column, written by the
-- ingest, and merged over the document's metadata into the chunk's `metadata`: match_documents
-- and hybrid_search already return `metadata`, so every door gets the location unchanged, and
-- metadata filters on the document's keys keep matching (containment ignores the extra keys).

alter table public.document_chunks
  add column location jsonb not null default '{}'::jsonb
    check (jsonb_typeof(location) = 'object' and pg_column_size(location) <= 4096);
comment on column public.document_chunks.location is
  'Where the passage is in its file: {"page": n} or {"pages": [first, last]} (PDF), '
  '{"headings": [outermost, ..., innermost]} (HTML, DOCX, Markdown); merged into metadata.';

-- Written like the other client-written columns; scope columns stay the triggers' alone.
grant insert (location) on public.document_chunks to authenticated;
grant update (location) on public.document_chunks to authenticated;

-- The copy now keeps the chunk's own location over the document's metadata. Still security
-- definer for the same reason as before: the copy must not depend on what the caller may read.
create or replace function private.copy_document_scope_to_chunk()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  select d.owner_id, d.workspace_id, d.embedding_model, d.category,
         d.metadata || coalesce(new.location, '{}'::jsonb)
    into new.owner_id, new.workspace_id, new.embedding_model, new.category, new.metadata
  from public.documents d
  where d.id = new.document_id;
  if not found then
    raise foreign_key_violation using
      message = format('document %s does not exist', new.document_id),
      hint = 'Create the document before adding its chunks.';
  end if;
  return new;
end
$$;

-- A changed location must refresh the merged metadata, so the trigger fires on it too.
drop trigger document_chunks_copy_scope on public.document_chunks;
create trigger document_chunks_copy_scope
  before insert or update of document_id, owner_id, workspace_id, embedding_model, category,
    metadata, location
  on public.document_chunks
  for each row execute function private.copy_document_scope_to_chunk();

-- New document metadata reaches its chunks without wiping their locations.
create or replace function private.propagate_document_scope()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.document_chunks c
     set owner_id = new.owner_id, workspace_id = new.workspace_id,
         category = new.category, metadata = new.metadata || c.location
   where c.document_id = new.id;
  return null;
end
$$;

-- ingest_document as 20261202000700 left it (with the text), but for each chunk's optional
-- "location" object. Same signature, so the grants of the function stay as they were.
create or replace function public.ingest_document(
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

  insert into public.document_chunks (document_id, chunk_index, content, embedding, location)
  select new_id, (item.ordinality - 1)::integer, item.value ->> 'content',
         (item.value -> 'embedding')::text::extensions.vector,
         coalesce(item.value -> 'location', '{}'::jsonb)
  from jsonb_array_elements(chunks) with ordinality as item;
  get diagnostics inserted = row_count;

  return query select new_id, true, inserted;
end
$$;
