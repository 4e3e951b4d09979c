-- =============================================================================================
-- Indexes for search, filters and RLS
-- =============================================================================================

-- Approximate nearest neighbours by cosine distance (the operator all-MiniLM-L6-v2 / gte-small
-- vectors are meant for). m = 16 and ef_construction = 64 are pgvector's defaults and the right
-- trade-off at 384 dimensions up to about a million rows: recall@10 stays above 0.95 with
-- ef_search around 100 while the graph stays small enough to build in minutes and fit in memory.
-- Larger m buys little recall here for a much bigger index; tune with the benchmarks, not by guess.
create index document_chunks_embedding_hnsw_idx on public.document_chunks
  using hnsw (embedding extensions.vector_cosine_ops) with (m = 16, ef_construction = 64);

-- Keyword side of hybrid search.
create index document_chunks_fts_idx on public.document_chunks using gin (fts);

-- Metadata filters (`metadata @> '{"lang": "en"}'`); jsonb_path_ops is smaller and faster than the
-- default opclass for containment, which is the only operator the API uses.
create index documents_metadata_idx on public.documents using gin (metadata jsonb_path_ops);
create index documents_category_idx on public.documents (category);

-- Columns RLS policies filter by. documents.owner_id leads the unique (owner, workspace, hash)
-- index already; document_chunks.document_id leads unique (document_id, chunk_index).
create index documents_workspace_id_idx on public.documents (workspace_id);
create index document_chunks_owner_id_idx on public.document_chunks (owner_id);
create index document_chunks_workspace_id_idx on public.document_chunks (workspace_id);
