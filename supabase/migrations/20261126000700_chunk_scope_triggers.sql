-- =============================================================================================
-- Triggers that keep derived columns true
-- =============================================================================================

-- A chunk's owner, workspace, model, category and metadata are always its document's: whatever
-- a client sends for them is overwritten before RLS checks the row, so a chunk cannot claim a
-- scope its document does not have. security definer so the copy does not depend on what the caller may read; the
-- insert/update policies then decide with these trusted values.
create function private.copy_document_scope_to_chunk()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  select d.owner_id, d.workspace_id, d.embedding_model, d.category, d.metadata
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
revoke execute on function private.copy_document_scope_to_chunk() from public;

create trigger document_chunks_copy_scope
  before insert or update of document_id, owner_id, workspace_id, embedding_model, category,
    metadata
  on public.document_chunks
  for each row execute function private.copy_document_scope_to_chunk();

-- Moving a document to another workspace moves its chunks with it; new category or metadata
-- reach the chunks too. The caller's right to change the document was already decided by the
-- documents policies.
create function private.propagate_document_scope()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.document_chunks c
     set owner_id = new.owner_id, workspace_id = new.workspace_id,
         category = new.category, metadata = new.metadata
   where c.document_id = new.id;
  return null;
end
$$;
revoke execute on function private.propagate_document_scope() from public;

create trigger documents_propagate_scope
  after update of owner_id, workspace_id, category, metadata on public.documents
  for each row
  when (old.owner_id is distinct from new.owner_id
        or old.workspace_id is distinct from new.workspace_id
        or old.category is distinct from new.category
        or old.metadata is distinct from new.metadata)
  execute function private.propagate_document_scope();

create function private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke execute on function private.touch_updated_at() from public;

create trigger documents_touch_updated_at
  before update on public.documents
  for each row execute function private.touch_updated_at();
create trigger workspaces_touch_updated_at
  before update on public.workspaces
  for each row execute function private.touch_updated_at();

-- Whoever creates a workspace becomes its first owner.
create function private.add_workspace_creator_as_owner()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.created_by is not null then
    insert into public.workspace_members (workspace_id, user_id, role)
    values (new.id, new.created_by, 'owner');
  end if;
  return null;
end
$$;
revoke execute on function private.add_workspace_creator_as_owner() from public;

create trigger workspaces_add_creator_as_owner
  after insert on public.workspaces
  for each row execute function private.add_workspace_creator_as_owner();
