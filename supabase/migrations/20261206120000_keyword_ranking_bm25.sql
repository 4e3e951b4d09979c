-- =============================================================================================
-- The keyword side, for questions: BM25 over any of the query's words, statistics per scope
-- =============================================================================================
-- Hand-written (issue 24): what supabase/schemas/62_keyword_index.sql and 75_hybrid_search.sql
-- state, plus what no differ writes: the keyword index filled from the passages already stored
-- before its search index is built. `kb-stack db drift` holds the two to the same catalog.
-- Until now the keyword side was `websearch_to_tsquery`, which requires every word of the query:
-- a question in natural language matched nothing (15 of 300 SciFact claims matched anything), so
-- hybrid search was semantic search. This migration ranks passages by BM25 over ANY of the
-- query's words, with the document's title in every passage's words, and fuses it with the
-- semantic side deeply enough to be worth it. It needs no extension: a posting list kept in a
-- B-tree by triggers, and per-scope totals beside it.
--
-- The formula (Robertson and Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond",
-- 2009; Lucene's form of idf, which is never negative), for a query Q and a passage p:
--
--   score(p) = sum over the distinct words t of Q that p holds of
--              idf(t) * tf(t, p) * (k1 + 1) / (tf(t, p) + k1 * (1 - b + b * len(p) / avglen))
--   idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
--
-- k1 = 1.2 and b = 0.75, Lucene's defaults: on SciFact's train split the grid k1 0.6-2.0 x b
-- 0.3-0.9 spans 0.681-0.694 nDCG@10, too flat to prefer its maximum (bench/scifact_tuning.py).
--
-- Words are what to_tsvector('english', ...) makes of the document's title followed by the
-- passage (stemmed, stop words dropped; a file's passages open with their heading path, so
-- headings are in them too: knowledge_core.chunking). tf is a word's count in the passage,
-- len(p) the passage's count of words. N, avglen and df(t) are taken over the passages THE
-- CALLER MAY READ, and nothing else: statistics over the whole table would let a tenant learn
-- another tenant's words from how their own results reorder. Passages without any word (only
-- stop words or punctuation) are not counted in N. Filters narrow the results, not the
-- statistics (the collection is what the caller may read).
--
-- How it stays exact under RLS and fast:
--   * private.keyword_cells: one row per (owner, workspace or none, model) with the number of
--     passages and of words in it. Every passage is in exactly one cell, and what a caller may
--     read is exactly a set of cells (their own rows, any workspace; every row of the workspaces
--     they belong to), so N and avglen are sums over the caller's cells, counting no passage
--     twice. Totals by cell also keep writes of different owners off each other's rows.
--   * private.keyword_postings: one row per (passage, word) with the word's count and the
--     passage's length, and the passage's cell. The search reads, through the covering index
--     (term, cell_id), only the postings of the query's words in the caller's cells: df(t) is
--     counted from exactly those, and every passage holding a word is scored. Its cost follows
--     the caller's postings of those words; another tenant's rows are never read.
--   * Triggers keep both true on every insert, update (text, owner, workspace, model) and delete
--     of a passage and on a document's title change; statement-level, with transition tables,
--     so a document's passages written in one statement cost one pass.
-- What it costs: ~140 bytes per (passage, distinct word), indexes included (SciFact: 10,292
-- passages, 613k postings, 82 MB; 1M passages of 8 words: 8.9M postings, 1.25 GB); a write
-- parses its passages once more and writes their postings; writes into the same cell (one
-- owner, one place, one model) take turns on its totals row until they commit.
-- Neither table is readable by any API role (private schema, no grants); the ranking functions
-- that read them are `security definer` and take the caller's cells from the caller's identity,
-- never from an argument. Planner statistics (pg_stats) show a table's values only to roles that
-- may read it: none here.
-- =============================================================================================

-- ---------------------------------------------------------------------------------------------
-- The tables
-- ---------------------------------------------------------------------------------------------
create table private.keyword_cells (
  id integer generated always as identity primary key,
  owner_id uuid not null references auth.users (id) on delete cascade,
  workspace_id uuid references public.workspaces (id) on delete cascade,
  embedding_model text not null,
  passages bigint not null default 0 check (passages >= 0),
  words bigint not null default 0 check (words >= 0),
  constraint keyword_cells_once unique nulls not distinct (owner_id, workspace_id, embedding_model)
);
comment on table private.keyword_cells is
  'BM25 statistics by scope cell: passages and words of one owner''s rows of one model, private '
  'or in one workspace. A caller''s statistics are the sum over the cells they may read.';
-- Cells of a caller's workspaces (owner_id leads the unique constraint's index).
create index keyword_cells_workspace_idx on private.keyword_cells (workspace_id)
  where workspace_id is not null;

-- `term` compares bytewise ("C"): only equality is asked of it, and C is the cheapest to compare
-- and to keep in the index. Columns ordered widest first so the rows pack without padding.
create table private.keyword_postings (
  chunk_id bigint not null,
  cell_id integer not null,
  length integer not null,  -- the passage's words (len(p)), on each of its postings
  tf smallint not null,     -- this word's count in the passage (tsvector keeps up to 256)
  term text collate "C" not null,
  primary key (chunk_id, term)  -- also how a passage's postings are found when it changes
);
comment on table private.keyword_postings is
  'The keyword index: one row per (passage, word), kept by triggers on document_chunks.';

revoke all on private.keyword_cells, private.keyword_postings
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------------------------
-- Keeping them true
-- ---------------------------------------------------------------------------------------------

-- A passage's words and their counts: its document's title, then its text (fts, already parsed).
create function private.passage_words(title text, fts tsvector)
returns table (term text, tf integer)
language sql
immutable
parallel safe
set search_path = ''
as $$
  select w.lexeme, coalesce(array_length(w.positions, 1), 1)
  from unnest(to_tsvector('english', coalesce(title, '')) || fts) w
$$;
revoke execute on function private.passage_words(text, tsvector) from public;

-- Adds passages' deltas to their cells, cell by cell in id order: two writers that touch the same
-- cells lock them in the same order, so they wait for each other instead of deadlocking.
create function private.add_to_keyword_cells(cells integer[], passages bigint[], words bigint[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  delta record;
begin
  for delta in
    select d.cell, sum(d.passages) as passages, sum(d.words) as words
    from unnest(cells, passages, words) as d (cell, passages, words)
    group by d.cell
    order by d.cell
  loop
    update private.keyword_cells k
       set passages = k.passages + delta.passages, words = k.words + delta.words
     where k.id = delta.cell;
  end loop;
end
$$;
revoke execute on function private.add_to_keyword_cells(integer[], bigint[], bigint[]) from public;

-- Index these passages as they are now in the table (their cell made if new).
create function private.index_passage_keywords(chunk_ids bigint[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  cells integer[];
  passages bigint[];
  words bigint[];
begin
  insert into private.keyword_cells (owner_id, workspace_id, embedding_model)
  select distinct c.owner_id, c.workspace_id, c.embedding_model
  from public.document_chunks c
  where c.id = any (chunk_ids)
  order by 1, 2, 3
  on conflict on constraint keyword_cells_once do nothing;

  with words as (
    select c.id, k.id as cell_id, w.term, w.tf,
           sum(w.tf) over (partition by c.id) as length
    from public.document_chunks c
    join public.documents d on d.id = c.document_id
    -- coalesce: an equality the planner can hash (`is not distinct from` it cannot).
    join private.keyword_cells k
      on k.owner_id = c.owner_id
     and coalesce(k.workspace_id, '00000000-0000-0000-0000-000000000000')
       = coalesce(c.workspace_id, '00000000-0000-0000-0000-000000000000')
     and k.embedding_model = c.embedding_model
    cross join lateral private.passage_words(d.title, c.fts) w
    where c.id = any (chunk_ids)
  ),
  added as (
    insert into private.keyword_postings (chunk_id, cell_id, length, tf, term)
    select w.id, w.cell_id, w.length, w.tf, w.term from words w
    returning chunk_id, cell_id, length
  )
  select array_agg(a.cell_id), array_agg(1::bigint), array_agg(a.length::bigint)
    into cells, passages, words
  from (select distinct chunk_id, cell_id, length from added) a;

  if cells is not null then
    perform private.add_to_keyword_cells(cells, passages, words);
  end if;
end
$$;
revoke execute on function private.index_passage_keywords(bigint[]) from public;

-- Remove these passages from the index (they may be gone from the table already).
create function private.unindex_passage_keywords(chunk_ids bigint[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  cells integer[];
  passages bigint[];
  words bigint[];
begin
  with gone as (
    delete from private.keyword_postings p
    where p.chunk_id = any (chunk_ids)
    returning p.chunk_id, p.cell_id, p.length
  )
  select array_agg(g.cell_id), array_agg(-1::bigint), array_agg(-g.length::bigint)
    into cells, passages, words
  from (select distinct chunk_id, cell_id, length from gone) g;

  if cells is not null then
    perform private.add_to_keyword_cells(cells, passages, words);
  end if;
end
$$;
revoke execute on function private.unindex_passage_keywords(bigint[]) from public;

create function private.keyword_index_inserted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.index_passage_keywords(array(select a.id from added a));
  return null;
end
$$;
revoke execute on function private.keyword_index_inserted() from public;

create function private.keyword_index_deleted()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.unindex_passage_keywords(array(select r.id from removed r));
  return null;
end
$$;
revoke execute on function private.keyword_index_deleted() from public;

-- Only passages whose words or cell changed are indexed again: the worker's and the metadata
-- propagation's updates of other columns cost one comparison per row.
create function private.keyword_index_updated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  changed bigint[];
begin
  changed := array(
    select n.id
    from after_rows n
    join before_rows o on o.id = n.id
    where n.fts is distinct from o.fts
       or n.document_id is distinct from o.document_id
       or n.owner_id is distinct from o.owner_id
       or n.workspace_id is distinct from o.workspace_id
       or n.embedding_model is distinct from o.embedding_model);
  if cardinality(changed) > 0 then
    perform private.unindex_passage_keywords(changed);
    perform private.index_passage_keywords(changed);
  end if;
  return null;
end
$$;
revoke execute on function private.keyword_index_updated() from public;

create function private.keyword_index_truncated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  truncate private.keyword_postings;
  delete from private.keyword_cells;
  return null;
end
$$;
revoke execute on function private.keyword_index_truncated() from public;

-- A new title changes the words of every passage of the document.
create function private.keyword_index_retitled()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  passages bigint[] := array(select c.id from public.document_chunks c where c.document_id = new.id);
begin
  perform private.unindex_passage_keywords(passages);
  perform private.index_passage_keywords(passages);
  return null;
end
$$;
revoke execute on function private.keyword_index_retitled() from public;

create trigger document_chunks_keywords_inserted
  after insert on public.document_chunks
  referencing new table as added
  for each statement execute function private.keyword_index_inserted();
create trigger document_chunks_keywords_updated
  after update on public.document_chunks
  referencing old table as before_rows new table as after_rows
  for each statement execute function private.keyword_index_updated();
create trigger document_chunks_keywords_deleted
  after delete on public.document_chunks
  referencing old table as removed
  for each statement execute function private.keyword_index_deleted();
create trigger document_chunks_keywords_truncated
  after truncate on public.document_chunks
  for each statement execute function private.keyword_index_truncated();
create trigger documents_keywords_retitled
  after update of title on public.documents
  for each row when (old.title is distinct from new.title)
  execute function private.keyword_index_retitled();

-- The passages already stored (the triggers above hold the table's lock from here on, so no
-- write slips between this and them). The search index is built after, in one pass.
insert into private.keyword_cells (owner_id, workspace_id, embedding_model)
select distinct c.owner_id, c.workspace_id, c.embedding_model from public.document_chunks c;

insert into private.keyword_postings (chunk_id, cell_id, length, tf, term)
select w.id, w.cell_id, (sum(w.tf) over (partition by w.id))::integer, w.tf, w.term
from (
  select c.id, k.id as cell_id, t.term, t.tf
  from public.document_chunks c
  join public.documents d on d.id = c.document_id
  join private.keyword_cells k
    on k.owner_id = c.owner_id
   and coalesce(k.workspace_id, '00000000-0000-0000-0000-000000000000')
     = coalesce(c.workspace_id, '00000000-0000-0000-0000-000000000000')
   and k.embedding_model = c.embedding_model
  cross join lateral private.passage_words(d.title, c.fts) t
) w;

update private.keyword_cells k
   set passages = s.passages, words = s.words
  from (select p.cell_id, count(*) as passages, sum(p.length) as words
        from (select distinct chunk_id, cell_id, length from private.keyword_postings) p
        group by p.cell_id) s
 where k.id = s.cell_id;

-- The search's index: the postings of one word in one cell are one range of it, with everything
-- the score needs (index-only scans: the table's rows are not visited once vacuum has seen them).
create index keyword_postings_search_idx on private.keyword_postings (term, cell_id)
  include (chunk_id, tf, length);
analyze private.keyword_cells;
analyze private.keyword_postings;

-- ---------------------------------------------------------------------------------------------
-- The ranking
-- ---------------------------------------------------------------------------------------------

-- The distinct words of a query, as passages' words are made ('english': stemmed, stop words
-- dropped). Empty for a query of only stop words or punctuation.
create function private.query_words(query_text text)
returns text[]
language sql
immutable
parallel safe
set search_path = ''
as $$
  select coalesce(array_agg(w.lexeme), '{}') from unnest(to_tsvector('english', query_text)) w
$$;
revoke execute on function private.query_words(text) from public;
grant execute on function private.query_words(text) to authenticated, service_role;

-- BM25 over the given cells: statistics from all of `cells`, results from `result_cells` (the
-- cells the workspace / model filters leave) and, when the metadata or category filters are
-- given, from passages matching them. Ids and scores, best first (ties by id), at most how_many.
-- Reads private tables: only called by the security definer functions below, never granted.
create function private.keyword_ranking_in(
  cells integer[],
  query_text text,
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid,
  filter_embedding_model text,
  how_many integer,
  k1 double precision default 1.2,
  b double precision default 0.75
)
returns table (id bigint, score double precision)
language plpgsql
stable
set search_path = ''
-- The postings of the query's words are ranges of the index; a sequential scan would read every
-- word's postings of every tenant (the planner picks one when a caller's words are most of a
-- small table). Without it, a search's time never depends on how much others have written.
set enable_seqscan = off
as $$
declare
  terms text[] := private.query_words(query_text);
  result_cells integer[];
  n double precision;
  avglen double precision;
  idf double precision[];
  row_conditions boolean :=
    (filter is not null and filter <> '{}'::jsonb) or filter_category is not null;
begin
  if cardinality(terms) = 0 or cardinality(cells) = 0 or how_many < 1 then
    return;
  end if;
  result_cells := array(
    select k.id from private.keyword_cells k
    where k.id = any (cells)
      and (filter_workspace_id is null or k.workspace_id = filter_workspace_id)
      and (filter_embedding_model is null or k.embedding_model = filter_embedding_model));
  select sum(k.passages), sum(k.words)::double precision / nullif(sum(k.passages), 0)
    into n, avglen
  from private.keyword_cells k
  where k.id = any (cells);
  if cardinality(result_cells) = 0 or coalesce(n, 0) = 0 then
    return;
  end if;
  -- df of each word: its postings in the caller's cells (one range of the index per cell),
  -- counted before the scoring pass so that pass is one read of the postings with each word's
  -- idf looked up by position (measured: twice as fast as counting and scoring in one
  -- statement, which hashes every posting by its word).
  execute $sql$
    select array_agg(ln(1 + ($3 - d.df + 0.5) / (d.df + 0.5)) order by t.i)
    from unnest($1) with ordinality as t (term, i)
    cross join lateral (
      select count(*)::double precision as df
      from private.keyword_postings p
      where p.term = t.term and p.cell_id = any ($2)
    ) d
  $sql$ into idf using terms, cells, n;
  -- EXECUTE: planned with the words and cells as values, so the planner reads each word's range
  -- of the caller's cells from the index (few cells) or the word's whole range filtered by cell
  -- (many), as their sizes say.
  return query execute format($sql$
    select s.id, s.score
    from (
      select p.chunk_id as id,
             sum($8[array_position($1, p.term)] * p.tf * ($9 + 1)
                 / (p.tf + $9 * (1 - $10 + $10 * p.length / $11))) as score
      from private.keyword_postings p
      where p.term = any ($1) and p.cell_id = any ($7)
      group by p.chunk_id
      %s
    ) s
    %s
    order by s.score desc, s.id
    limit $5
  $sql$,
    -- Without row filters the top how_many of the scores are the answer (a top-N sort);
    -- with them, every scored passage is a candidate until the filters have spoken.
    case when row_conditions then '' else 'order by 2 desc, 1 limit $5' end,
    case when row_conditions then
      'join public.document_chunks c on c.id = s.id where '
        || private.search_conditions(filter, filter_category, filter_workspace_id)
    else '' end)
  using terms, filter, filter_category, filter_workspace_id, how_many, cells, result_cells, idf,
        k1, b, avglen;
end
$$;
revoke execute on function private.keyword_ranking_in(
  integer[], text, jsonb, text, uuid, text, integer, double precision, double precision
) from public;

-- The ranking over what the caller may read: the cells of their own rows and of the workspaces
-- they belong to in any role, and only if their token allows 'knowledge:read' (the chunks'
-- SELECT policy, 20261201000100, as cells; tests/database/test_keyword_ranking.py holds the two
-- together for every caller of the RLS matrix). Reveals ids and scores of rows the caller may
-- read anyway, computed from those rows alone. Granted to authenticated only (anon reads no
-- chunk; service_role and postgres bypass RLS and use keyword_ranking_of_all).
create function private.visible_keyword_ranking(
  query_text text,
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid,
  filter_embedding_model text,
  how_many integer
)
returns table (id bigint, score double precision)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
begin
  if caller is null or not private.token_allows('knowledge:read') then
    return;
  end if;
  return query
  select r.id, r.score
  from private.keyword_ranking_in(
    array(
      select k.id from private.keyword_cells k
      where k.owner_id = caller
      union
      select k.id from private.keyword_cells k
      where k.workspace_id = any (array(select private.caller_workspace_ids('{owner,editor,viewer}')))),
    query_text, filter, filter_category, filter_workspace_id, filter_embedding_model,
    least(greatest(how_many, 0), 4000)) r;
end
$$;
revoke execute on function private.visible_keyword_ranking(text, jsonb, text, uuid, text, integer)
  from public;
grant execute on function private.visible_keyword_ranking(text, jsonb, text, uuid, text, integer)
  to authenticated;

-- For the roles RLS does not restrict (service_role; the table's owner): every cell.
create function private.keyword_ranking_of_all(
  query_text text,
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid,
  filter_embedding_model text,
  how_many integer
)
returns table (id bigint, score double precision)
language sql
stable
security definer
set search_path = ''
as $$
  select r.id, r.score
  from private.keyword_ranking_in(
    array(select k.id from private.keyword_cells k),
    query_text, filter, filter_category, filter_workspace_id, filter_embedding_model,
    least(greatest(how_many, 0), 4000)) r
$$;
revoke execute on function private.keyword_ranking_of_all(text, jsonb, text, uuid, text, integer)
  from public;
grant execute on function private.keyword_ranking_of_all(text, jsonb, text, uuid, text, integer)
  to service_role;

-- The keyword ranking as the search functions use it, run as the caller: the right one of the two
-- above for the caller's role, and every row read again as the caller, so RLS keeps the last
-- word (same order). rank_ix: 1 for the best.
create function private.keyword_candidates(
  query_text text,
  filter jsonb,
  filter_category text,
  filter_workspace_id uuid,
  filter_embedding_model text,
  how_many integer
)
returns table (id bigint, rank_ix integer, score double precision)
language plpgsql
stable
set search_path = ''
as $$
begin
  if not row_security_active('public.document_chunks') then
    -- service_role, postgres: RLS does not apply, every row counts.
    return query
    select r.id, (row_number() over (order by r.score desc, r.id))::integer, r.score
    from private.keyword_ranking_of_all(
      query_text, filter, filter_category, filter_workspace_id, filter_embedding_model,
      how_many) r;
  elsif pg_has_role('authenticated', 'member') then
    return query
    select r.id, (row_number() over (order by r.score desc, r.id))::integer, r.score
    from private.visible_keyword_ranking(
      query_text, filter, filter_category, filter_workspace_id, filter_embedding_model,
      how_many) r
    -- `limit 1` keeps each lookup a probe of the primary key (a plain join or EXISTS may be
    -- planned as a hash join over every row the caller may read).
    cross join lateral (
      select 1 from public.document_chunks c where c.id = r.id limit 1
    ) readable;
  end if;
  -- Otherwise (anon): no read policy, no rows.
end
$$;
revoke execute on function private.keyword_candidates(text, jsonb, text, uuid, text, integer)
  from public;
grant execute on function private.keyword_candidates(text, jsonb, text, uuid, text, integer)
  to authenticated, service_role;


-- The old ranking (ts_rank_cd over websearch_to_tsquery: every word required) is replaced.
drop function private.visible_keyword_ranking(tsquery, jsonb, text, uuid, text, integer);
drop function private.keyword_ranking_statement(text, text, boolean);

-- ---------------------------------------------------------------------------------------------
-- The searches
-- ---------------------------------------------------------------------------------------------

-- The checks every text search makes before reading a row (SQLSTATE 22023: PostgREST answers 400
-- with the message, which names the argument).
create function private.check_text_search_arguments(query_text text, match_count integer)
returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if query_text is null or char_length(btrim(query_text)) = 0 then
    raise exception 'query_text is required' using errcode = '22023';
  end if;
  if char_length(query_text) > 2000 then
    raise exception 'query_text must be at most 2000 characters, not %', char_length(query_text)
      using errcode = '22023';
  end if;
  if match_count is null or match_count < 1 or match_count > 200 then
    raise exception 'match_count must be between 1 and 200, not %', coalesce(match_count::text, 'null')
      using errcode = '22023';
  end if;
end
$$;
revoke execute on function private.check_text_search_arguments(text, integer) from public;
grant execute on function private.check_text_search_arguments(text, integer)
  to authenticated, service_role;

-- The rows of ranked candidates, read as the caller, best first: passages, or with
-- group_by_document each document once at its best passage. Each candidate is read through the
-- primary key (a lateral lookup with `limit 1`, which the planner may not turn into a join
-- over the table, whatever it guesses of the lists' sizes). The
-- similarity is computed when a query vector is given (hybrid), null otherwise (keyword).
create function private.search_results(
  ids bigint[],
  keyword_ranks integer[],
  semantic_ranks integer[],
  scores double precision[],
  query_embedding extensions.vector,
  group_by_document boolean,
  match_count integer
)
returns table (
  id bigint,
  content text,
  metadata jsonb,
  similarity double precision,
  document_id uuid,
  chunk_index integer,
  title text,
  source text,
  category text,
  workspace_id uuid,
  embedding_model text,
  keyword_rank integer,
  semantic_rank integer,
  score double precision
)
language sql
stable
set search_path = ''
as $$
  select r.id, r.content, r.metadata,
         1 - (r.embedding operator(extensions.<=>) query_embedding),
         r.document_id, r.chunk_index, d.title, d.source, r.category, r.workspace_id,
         r.embedding_model, r.keyword_rank, r.semantic_rank, r.score
  from (
    select c.*, f.keyword_rank, f.semantic_rank, f.score, f.ord,
           row_number() over (partition by c.document_id order by f.ord) as in_document
    from unnest(ids, keyword_ranks, semantic_ranks, scores)
           with ordinality as f (id, keyword_rank, semantic_rank, score, ord)
    cross join lateral (
      select c.id, c.content, c.metadata, c.embedding, c.document_id, c.chunk_index, c.category,
             c.workspace_id, c.embedding_model
      from public.document_chunks c
      where c.id = f.id
      limit 1
    ) c
  ) r
  join public.documents d on d.id = r.document_id
  where not group_by_document or r.in_document = 1
  order by r.ord
  limit match_count
$$;
revoke execute on function private.search_results(
  bigint[], integer[], integer[], double precision[], extensions.vector, boolean, integer
) from public;
grant execute on function private.search_results(
  bigint[], integer[], integer[], double precision[], extensions.vector, boolean, integer
) to authenticated, service_role;

-- How many documents these passages belong to (as the caller): enough for match_count of them?
create function private.document_count(ids bigint[])
returns integer
language sql
stable
set search_path = ''
as $$
  select count(distinct c.document_id)::integer
  from unnest(ids) as f (id)
  cross join lateral (
    select c.document_id from public.document_chunks c where c.id = f.id limit 1
  ) c
$$;
revoke execute on function private.document_count(bigint[]) from public;
grant execute on function private.document_count(bigint[]) to authenticated, service_role;

-- Keyword search alone: passages ranked by BM25 over any of the query's words (above), or with
-- group_by_document, documents ranked by their best passage (one row each: that passage).
-- The same columns as hybrid_search, so every door reads one shape: similarity and semantic_rank
-- are null (no vector is involved), score is the BM25 score. A query of only stop words or
-- punctuation has no words to match: no rows.
create function public.keyword_search(
  query_text text,
  match_count integer default 10,
  filter jsonb default '{}',
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null,
  group_by_document boolean default false
)
returns table (
  id bigint,
  content text,
  metadata jsonb,
  similarity double precision,
  document_id uuid,
  chunk_index integer,
  title text,
  source text,
  category text,
  workspace_id uuid,
  embedding_model text,
  keyword_rank integer,
  semantic_rank integer,
  score double precision
)
language plpgsql
stable
set search_path = ''
as $$
declare
  -- Passages enough for match_count documents: deeper while documents hold several of them.
  depth integer := case when group_by_document then match_count * 3 else match_count end;
  ids bigint[];
  ranks integer[];
  scores double precision[];
begin
  perform private.check_text_search_arguments(query_text, match_count);
  if filter is not null and jsonb_typeof(filter) <> 'object' then
    raise exception 'filter must be a JSON object of metadata to match, not a JSON %',
      jsonb_typeof(filter) using errcode = '22023';
  end if;
  if group_by_document is null then
    raise exception 'group_by_document must be true or false' using errcode = '22023';
  end if;
  loop
    select coalesce(array_agg(k.id order by k.rank_ix), '{}'),
           coalesce(array_agg(k.rank_ix order by k.rank_ix), '{}'),
           coalesce(array_agg(k.score order by k.rank_ix), '{}')
      into ids, ranks, scores
    from private.keyword_candidates(query_text, filter, filter_category, filter_workspace_id,
                                    filter_embedding_model, depth) k;
    exit when not group_by_document or cardinality(ids) < depth or depth >= 4000
           or private.document_count(ids) >= match_count;
    depth := least(depth * 4, 4000);
  end loop;
  return query
  select * from private.search_results(
    ids, ranks, array_fill(null::integer, array[cardinality(ids)]), scores, null,
    group_by_document, match_count);
end
$$;
revoke execute on function public.keyword_search from public, anon;
grant execute on function public.keyword_search to authenticated, service_role;

-- hybrid_search, with the BM25 keyword side and a fusion tuned on SciFact's train split
-- (bench/README.md, section 10). Same columns; the parameters of before keep their meaning and
-- order; new ones have defaults:
--   * group_by_document: documents ranked by their best passage (one row each: that passage);
--   * fusion: 'relative_score' (the default) adds each side's score scaled to 0..1 over its
--     candidates (min-max), weighted by full_text_weight and semantic_weight and divided by their
--     sum; 'rrf' is reciprocal rank fusion as before (weight / (rrf_k + rank), summed). Measured
--     on SciFact train, documents by best passage, 100 candidates a side: relative_score 0.734
--     nDCG@10, RRF (k = 50) 0.716, RRF at its best (k = 10) 0.726, BM25 alone 0.692, semantic
--     alone 0.667 (bench/scifact_tuning.py).
-- Each side brings its best max(20, 2 x match_count) passages (deeper for documents until
-- match_count of them are found). Measured on SciFact train: nDCG@10 0.731 with 20
-- candidates, 0.732 with 50, 0.734 with 100, 0.737 with 1,000; while on the 1M-row sweep a
-- caller who sees 10% of a model's graph without a scope graph of their own walked it for 40 ms
-- (p50) to bring 20 candidates and 122 ms for 100. A side whose weight is 0 is not run.
drop function public.hybrid_search(
  text, extensions.vector, integer, jsonb, text, uuid, text, double precision, double precision,
  integer);
create function public.hybrid_search(
  query_text text,
  query_embedding extensions.vector(384),
  match_count integer default 10,
  filter jsonb default '{}',
  filter_category text default null,
  filter_workspace_id uuid default null,
  filter_embedding_model text default null,
  full_text_weight double precision default 1,
  semantic_weight double precision default 1,
  rrf_k integer default 50,
  group_by_document boolean default false,
  fusion text default 'relative_score'
)
returns table (
  id bigint,
  content text,
  metadata jsonb,
  similarity double precision,
  document_id uuid,
  chunk_index integer,
  title text,
  source text,
  category text,
  workspace_id uuid,
  embedding_model text,
  keyword_rank integer,
  semantic_rank integer,
  score double precision
)
language plpgsql
stable
set search_path = ''
as $$
declare
  depth integer := greatest(20, 2 * match_count);
  keyword_ids bigint[] := '{}';
  keyword_scores double precision[] := '{}';
  semantic_ids bigint[] := '{}';
  semantic_scores double precision[] := '{}';
  ids bigint[];
  keyword_ranks integer[];
  semantic_ranks integer[];
  scores double precision[];
begin
  perform private.check_text_search_arguments(query_text, match_count);
  if rrf_k is null or rrf_k < 1 then
    raise exception 'rrf_k must be a positive integer' using errcode = '22023';
  end if;
  if full_text_weight is null or semantic_weight is null
     or full_text_weight < 0 or semantic_weight < 0
     or full_text_weight in ('NaN', 'Infinity') or semantic_weight in ('NaN', 'Infinity') then
    raise exception 'full_text_weight and semantic_weight must be non-negative numbers'
      using errcode = '22023';
  end if;
  if fusion is null or fusion not in ('relative_score', 'rrf') then
    raise exception 'fusion must be ''relative_score'' or ''rrf'', not %',
      coalesce(quote_literal(fusion), 'null') using errcode = '22023';
  end if;
  if group_by_document is null then
    raise exception 'group_by_document must be true or false' using errcode = '22023';
  end if;
  perform private.check_search_arguments(query_embedding, match_count, filter, null, filter_category);

  loop
    if full_text_weight > 0 then
      select coalesce(array_agg(k.id order by k.rank_ix), '{}'),
             coalesce(array_agg(k.score order by k.rank_ix), '{}')
        into keyword_ids, keyword_scores
      from private.keyword_candidates(query_text, filter, filter_category, filter_workspace_id,
                                      filter_embedding_model, depth) k;
    end if;
    if semantic_weight > 0 then
      select coalesce(array_agg(m.id order by m.similarity desc, m.id), '{}'),
             coalesce(array_agg(m.similarity order by m.similarity desc, m.id), '{}')
        into semantic_ids, semantic_scores
      from public.match_documents(query_embedding, depth, filter, null, filter_category,
                                  filter_workspace_id, filter_embedding_model) m;
    end if;
    exit when not group_by_document or depth >= 1000
           or (cardinality(keyword_ids) < depth and cardinality(semantic_ids) < depth)
           or private.document_count(keyword_ids || semantic_ids) >= match_count;
    depth := least(depth * 4, 1000);
  end loop;

  -- The fusion, on the two lists alone (no table is read here).
  with keyword as (
    select k.id, k.rank_ix::integer as rank_ix,
           (k.score - min(k.score) over ()) / nullif(max(k.score) over () - min(k.score) over (), 0)
             as scaled
    from unnest(keyword_ids, keyword_scores) with ordinality as k (id, score, rank_ix)
  ),
  semantic as (
    select s.id, s.rank_ix::integer as rank_ix,
           (s.score - min(s.score) over ()) / nullif(max(s.score) over () - min(s.score) over (), 0)
             as scaled
    from unnest(semantic_ids, semantic_scores) with ordinality as s (id, score, rank_ix)
  ),
  fused as (
    select coalesce(k.id, s.id) as id, k.rank_ix as keyword_rank, s.rank_ix as semantic_rank,
           case when fusion = 'rrf' then
             coalesce(full_text_weight / (rrf_k + k.rank_ix), 0.0)
               + coalesce(semantic_weight / (rrf_k + s.rank_ix), 0.0)
           else
             -- Absent from a list: 0 from it. A list whose scores are all equal (one
             -- candidate, say) scales to 1.
             coalesce((case when k.id is null then 0.0
                            else full_text_weight * coalesce(k.scaled, 1) end
                       + case when s.id is null then 0.0
                              else semantic_weight * coalesce(s.scaled, 1) end)
                      / nullif(full_text_weight + semantic_weight, 0), 0.0)
           end as score
    from keyword k
    full outer join semantic s on s.id = k.id
  )
  select array_agg(f.id order by f.score desc, f.id),
         array_agg(f.keyword_rank order by f.score desc, f.id),
         array_agg(f.semantic_rank order by f.score desc, f.id),
         array_agg(f.score order by f.score desc, f.id)
    into ids, keyword_ranks, semantic_ranks, scores
  from fused f;

  if not group_by_document then
    -- Every candidate is a row the caller may read (each side read them as the caller): the
    -- first match_count are the answer, and only they need reading again.
    ids := ids[1:match_count];
    keyword_ranks := keyword_ranks[1:match_count];
    semantic_ranks := semantic_ranks[1:match_count];
    scores := scores[1:match_count];
  end if;
  return query
  select * from private.search_results(
    coalesce(ids, '{}'), keyword_ranks, semantic_ranks, scores, query_embedding,
    group_by_document, match_count);
end
$$;
revoke execute on function public.hybrid_search from public, anon;
grant execute on function public.hybrid_search to authenticated, service_role;
