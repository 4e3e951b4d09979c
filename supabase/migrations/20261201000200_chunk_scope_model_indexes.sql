-- =============================================================================================
-- Caller-scope indexes that also know the embedding model
-- =============================================================================================
-- Searches filter on the model (vectors of different models are not comparable), so the indexes
-- that find a caller's rows carry it as a second column: an exact scan of a caller's rows of one
-- model reads only those, and counting them (private.visible_chunk_estimate) is an index-only
-- scan. With the owner / workspace column leading, they still serve RLS and the foreign keys, so
-- they replace the single-column indexes rather than adding to every insert's cost. The workspace
-- index also carries the owner, so the estimate can leave out the caller's own rows there (they
-- are counted once, on the owner's side) without visiting the table.
create index document_chunks_owner_model_idx
  on public.document_chunks (owner_id, embedding_model);
create index document_chunks_workspace_model_idx
  on public.document_chunks (workspace_id, embedding_model) include (owner_id);
drop index public.document_chunks_owner_id_idx;
drop index public.document_chunks_workspace_id_idx;
