-- =============================================================================================
-- vector_store: the table LangChain's SupabaseVectorStore writes to, under RLS
-- =============================================================================================
-- LangChain's Python and JS stores upsert rows {id, content, embedding, metadata} into a table
-- they are given, call match_documents to search, and delete rows by id. Each row written here
-- becomes a document (same id; its text and metadata) with one passage (the row's vector): what
-- LangChain adds is found by match_documents, by the API's and by the MCP server's search, and
-- documents and their passages stay the one place knowledge lives.
--
-- Why a table and not a view: LangChain upserts (INSERT ... ON CONFLICT (id)), and Postgres
-- refuses ON CONFLICT on a view with INSTEAD OF triggers (no unique index to arbitrate). So the
-- table keeps each row's id and creation time; the other columns are the write interface: a
-- trigger moves them into documents and document_chunks and stores them as null, so nothing is
-- kept twice. Read the knowledge through match_documents or documents (`select` here returns ids).
--
-- Every write runs as the caller: the trigger writes into documents and document_chunks, whose
-- policies decide exactly as for any other door (a viewer or a read-only agent is refused; an
-- agent deletes only what it created).
--
-- Models: a row's vector is recorded under the model the caller states (column embedding_model,
-- e.g. LangChain Python's `from_documents(..., embedding_model="...")`, or metadata's
-- "embedding_model" key), else the project's model. A row without a vector is embedded by the
-- worker with the project's model.

create table public.vector_store (
  id uuid primary key references public.documents (id) on delete cascade,
  content text,
  embedding extensions.vector(384),
  metadata jsonb,
  embedding_model text,
  workspace_id uuid,
  created_at timestamptz not null default now()
);
comment on table public.vector_store is
  'LangChain''s vector store door: a row written here becomes a document with one passage.';

-- Write the row through to its document and passage, as the caller, then keep only the id.
-- Called for INSERT and UPDATE. In an upsert Postgres runs the INSERT trigger first (which writes
-- everything) and then, on a conflicting id, the UPDATE with the values that trigger left (null):
-- an update with nothing to write changes nothing.
create function private.write_vector_store_row()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  model text;
  title text;
  current_content text;
  current_metadata jsonb;
begin
  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id then
      raise exception 'a vector store row keeps its id' using errcode = '42501';
    end if;
    if new.content is null and new.embedding is null and new.metadata is null
       and new.workspace_id is null and new.embedding_model is null then
      return new;
    end if;
    -- A partial update (say, metadata only) keeps the document's other values.
    select d.content, d.metadata into current_content, current_metadata
      from public.documents d where d.id = old.id;
    new.content := coalesce(new.content, current_content);
    new.metadata := coalesce(new.metadata, current_metadata);
  end if;
  if new.content is null or char_length(btrim(new.content)) = 0 then
    raise exception 'content is required' using errcode = '23502';
  end if;
  if new.embedding is not null and char_length(new.content) > 8000 then
    raise exception 'a text with its own vector must be at most 8000 characters, not %',
      char_length(new.content)
      using errcode = '22023', hint = 'Split it first, or send it without a vector.';
  end if;
  new.id := coalesce(new.id, gen_random_uuid());
  model := coalesce(new.embedding_model, new.metadata ->> 'embedding_model',
                    private.project_embedding_model());
  -- A title from the metadata LangChain loaders set, else the text's first line.
  title := left(coalesce(nullif(btrim(coalesce(new.metadata ->> 'title', new.metadata ->> 'source',
                                                  '')), ''),
                         nullif(btrim(split_part(btrim(new.content), E'\n', 1)), ''),
                         'untitled'), 200);

  insert into public.documents as d (id, workspace_id, title, source, content, metadata,
                                     embedding_model)
  values (new.id, new.workspace_id, title, left(new.metadata ->> 'source', 2000), new.content,
          coalesce(new.metadata, '{}'), model)
  on conflict (id) do update
    set content = excluded.content, metadata = excluded.metadata, title = excluded.title,
        workspace_id = coalesce(new.workspace_id, d.workspace_id);

  if new.embedding is not null then
    -- A document's passages are all of one model: a vector of another is refused, not mixed.
    if exists (select 1 from public.documents d
               where d.id = new.id and d.embedding_model is distinct from model) then
      raise exception 'document % is embedded with another model than %', new.id, model
        using errcode = '22023',
              hint = 'State the document''s model, send the text without a vector, or delete it.';
    end if;
    delete from public.document_chunks c where c.document_id = new.id;
    insert into public.document_chunks (document_id, chunk_index, content, embedding)
    values (new.id, 0, new.content, new.embedding);
  end if;

  new.content := null;
  new.embedding := null;
  new.metadata := null;
  new.embedding_model := null;
  new.workspace_id := null;
  return new;
end
$$;
revoke execute on function private.write_vector_store_row() from public;

create trigger vector_store_write_through
  before insert or update on public.vector_store
  for each row execute function private.write_vector_store_row();

-- Deleting a row deletes its document (and passages), as the caller. If the documents policies
-- refuse (a viewer, or an agent deleting what it did not create), the whole delete fails rather
-- than leaving the document behind without its row.
create function private.delete_vector_store_document()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  delete from public.documents d where d.id = old.id;
  if not found and exists (select 1 from public.documents d where d.id = old.id) then
    raise exception 'you may read document % but not delete it', old.id
      using errcode = '42501';
  end if;
  return null;
end
$$;
revoke execute on function private.delete_vector_store_document() from public;

create trigger vector_store_delete_document
  after delete on public.vector_store
  for each row execute function private.delete_vector_store_document();

-- ---------------------------------------------------------------------------------------------
-- Privileges and policies: rows follow their documents
-- ---------------------------------------------------------------------------------------------
alter table public.vector_store enable row level security;
revoke all on public.vector_store from anon, authenticated, service_role;
grant select, delete on public.vector_store to authenticated;
grant insert (id, content, embedding, metadata, embedding_model, workspace_id)
  on public.vector_store to authenticated;
-- id too: an upsert sets every column it was sent (`on conflict (id) do update set id = ...`);
-- the trigger refuses an id that actually changes.
grant update (id, content, embedding, metadata, embedding_model, workspace_id)
  on public.vector_store to authenticated;
-- Admin tooling (the service-role key; never a user's request).
grant select, insert, update, delete on public.vector_store to service_role;

-- Whether the caller can see a document, read as of now. volatile on purpose: a stable
-- expression reads the table as it was when the statement began, so a policy could not see the
-- document the write-through trigger has just made, and an upsert's RETURNING (which needs the new
-- row to be visible) would be refused. Runs as the caller: the documents policies answer.
create function private.caller_sees_document(document_id uuid)
returns boolean
language sql
volatile
set search_path = ''
as $$
  select exists (select 1 from public.documents d where d.id = document_id)
$$;
revoke execute on function private.caller_sees_document(uuid) from public;
grant execute on function private.caller_sees_document(uuid) to authenticated;

-- Visible with their document, rewritten and deleted where the document may be. An insert needs
-- no more than a token that allows writing: the trigger has already written the document as the
-- caller, and the documents policies refused or allowed it there.
create policy "Vector store rows are visible with their document"
  on public.vector_store for select to authenticated
  using (
    (select private.token_allows('knowledge:read'))
    and private.caller_sees_document(vector_store.id)
  );

create policy "Vector store rows are added by callers who may write"
  on public.vector_store for insert to authenticated
  with check ((select private.token_allows('knowledge:write')));

create policy "Vector store rows are rewritten with their document"
  on public.vector_store for update to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and private.caller_sees_document(vector_store.id)
  )
  with check (
    (select private.token_allows('knowledge:write'))
    and private.caller_sees_document(vector_store.id)
  );

create policy "Vector store rows are deleted with their document"
  on public.vector_store for delete to authenticated
  using (
    (select private.token_allows('knowledge:write'))
    and private.caller_sees_document(vector_store.id)
  );
