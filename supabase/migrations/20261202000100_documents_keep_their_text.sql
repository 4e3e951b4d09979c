-- =============================================================================================
-- Documents keep their text, and say whether their passages are embedded
-- =============================================================================================
-- Until now a document's text lived only in its chunks, written by the edge. A row written by any
-- other door (supabase-js, supabase-py, SQL) had no text and so no passages: search never found it
-- and nothing said why. Now the text is a column of the document, so anything in the database can
-- be chunked and embedded from source (by the embedding worker, 20261202000300/400), again when
-- the text changes, and again for a new embedding model.
--
-- Why a column and not a table of its own: Postgres stores a long text value out of line (TOAST,
-- compressed), so the documents row itself stays small and scans of it do not read the text;
-- a separate table would cost a second row, a second index and a join on every read of the text,
-- for the same bytes on disk. Reading `documents` with `select=*` does return the text: clients
-- that list many documents should name their columns, as the edge does.
--
-- The owner sees each document's state through every door, on the row itself:
--   embedding_status  pending: passages are being made for the current text (or a new model)
--                     ready:   the passages match the text (or were written by the caller)
--                     failed:  embedding_error says why; the worker gave up
-- These columns are set by triggers and by the worker's functions, never by a client.
-- =============================================================================================

alter table public.documents
  add column content text check (char_length(content) between 1 and 2000000),
  add column embedding_status text not null default 'ready'
    check (embedding_status in ('pending', 'ready', 'failed')),
  add column embedding_error text check (char_length(embedding_error) <= 2000);

comment on column public.documents.content is
  'The document''s text; passages are chunked and embedded from it automatically.';
comment on column public.documents.embedding_status is
  'pending, ready or failed: whether the passages match the text (set by the database).';
comment on column public.documents.embedding_error is
  'Why embedding failed (or the last retried failure); null when all is well.';

-- The text is writable by the same callers as the rest of the document (the policies decide).
-- content_hash stays insertable for callers that write their passages themselves without text.
grant insert (content) on public.documents to authenticated;
grant update (content) on public.documents to authenticated;

-- The hash is the text's when there is text, whatever a client sent: it is what finds a retried
-- ingest (documents_same_content_once) and what tells the worker the text changed. sha256 of the
-- UTF-8 bytes, hex, exactly as the edge computes it (knowledge_core.knowledge.content_hash).
-- A document with new text waits for passages (pending); one without text and without passages
-- cannot be searched, and says so (failed) until passages are written for it. Writing the same
-- text again over a failed document is how its owner asks for another try.
create function private.track_document_text()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.content is not null then
    new.content_hash := encode(sha256(convert_to(new.content, 'UTF8')), 'hex');
  end if;
  if tg_op = 'INSERT' then
    if new.content is not null then
      new.embedding_status := 'pending';
      new.embedding_error := null;
    else
      new.embedding_status := 'failed';
      new.embedding_error := 'the document has no text (content) and no passages yet';
    end if;
  elsif new.content is not null
        and (new.content_hash is distinct from old.content_hash or old.embedding_status = 'failed')
  then
    -- New text, or the same text written again after a failure: (re)embed it.
    new.embedding_status := 'pending';
    new.embedding_error := null;
  end if;
  return new;
end
$$;
revoke execute on function private.track_document_text() from public;

create trigger documents_track_text
  before insert or update of content, content_hash on public.documents
  for each row execute function private.track_document_text();

-- The owner lists what is waiting or failed without reading every document.
create index documents_embedding_status_idx on public.documents (owner_id, embedding_status)
  where embedding_status <> 'ready';
