-- pgvector provides the `vector` type, distance operators and the HNSW index access method.
-- Supabase keeps extensions out of `public` (the `extension_in_public` advisor flags it there), so
-- it lives in `extensions`, which PostgREST puts on every request's search_path.
create extension if not exists vector with schema extensions;
