-- =============================================================================================
-- The keyword side, for questions: BM25 over any of the query's words, statistics per scope
-- =============================================================================================
-- Until migration keyword_ranking_bm25 the keyword side was `websearch_to_tsquery`, which requires
-- every word of the query: a question in natural language matched nothing (15 of 300 SciFact
-- claims matched anything), so hybrid search was semantic search. It now ranks passages by BM25
-- over ANY of the query's words, with the document's title in every passage's words, and
-- hybrid_search (75_hybrid_search.sql) fuses it with the semantic side deeply enough to be worth
-- it. It needs no extension: a posting list kept in a B-tree by triggers, and per-scope totals
-- beside it.
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

-- The search's index: the postings of one word in one cell are one range of it, with everything
-- the score needs (index-only scans: the table's rows are not visited once vacuum has seen them).
create index keyword_postings_search_idx on private.keyword_postings (term, cell_id)
  include (chunk_id, tf, length);

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
-- SELECT policy, 40_document_chunks.sql, as cells; tests/database/test_keyword_ranking.py holds the two
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
