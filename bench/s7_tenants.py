"""Section 7: the tenant sweep (issue 10), and the scale figures of `vector` vs `halfvec`.

One scratch table of `sweep_rows` synthetic rows, laid out like a multi-tenant project:

- owners of 0.01%, 0.1%, 1% and 10% of the rows, each in a workspace of their own;
- the "100%" caller owns the rest and is a member of every one of those workspaces, so RLS shows
  them every row of the model;
- a workspace member who owns nothing and views the 1% owner's workspace;
- a minority-model caller owning as many rows as the 0.1% owner, under a second model whose
  vectors come from another latent space (another model's embeddings); it is compared with the
  0.1% owner of the main model ("within 2x of the single-model case").

Each model has its own HNSW graph (private.add_embedding_model, as production does). Every search
runs as the caller (`set local role authenticated` with the JWT claims, as PostgREST does), through
match_documents and hybrid_search, k = 10. For each caller: rows returned, recall@10 against the
exact answer over the rows they may see (the same search with an exact scan of their rows;
hybrid: hybrid_search's fusion, computed here, of BM25 computed here from a scan of their rows
and of the exact semantic ranking), p50/p95, and the plan match_documents chose (auto_explain,
nested statements).

Then the scale figures on the same table: the main model's graph as add_embedding_model builds it
(`halfvec`: an expression index on `embedding::halfvec(384)`) and as `vector` (float32): build
time, index size, recall@10 and p50/p95 of the bare walk at concurrency 1 and 8 (as `postgres`,
all rows).
"""

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from bench.config import K, Profile
from bench.datasets import SYNTHETIC_MODEL, SYNTHETIC_SEED
from bench.fusion import relative_score
from bench.plans import auto_explained
from bench.report import Report, Table
from bench.stats import percentile
from bench.timing import elapsed_ms, now
from bench.vectors import copy_chunks, literal
from samples.bm25 import Passage, query_words
from samples.bm25 import scores as bm25_scores
from samples.vectors import EmbeddingLike

SHARES = (0.0001, 0.001, 0.01, 0.1)
MINORITY_MODEL = "synthetic-minority-model"
BUILD_MEMORY = "2GB"
VOCABULARY = 5_000
WORDS_PER_ROW = 8
# hybrid_search's candidates from each side for k = 10: max(20, 2 k).
HYBRID_DEPTH = 20
OTHER_INDEX = "bench_sweep_other_storage_idx"

SEMANTIC = (
    "select id from public.match_documents(%s::extensions.vector, %s, filter_embedding_model => %s)"
)
HYBRID = (
    "select id from public.hybrid_search(%s, %s::extensions.vector, %s, "
    "filter_embedding_model => %s)"
)
# The truth: every row the caller may see, ranked exactly (`offset 0` keeps the index walk out).
EXACT = (
    "select c.id, 1 - (c.embedding operator(extensions.<=>) %s::extensions.vector) "
    "from (select * from public.document_chunks c offset 0) c "
    "where c.embedding_model = %s "
    "order by c.embedding operator(extensions.<=>) %s::extensions.vector, c.id limit %s"
)
# BM25's statistics over every passage the caller may see (all models), and the words of those
# holding a query word: read from the rows themselves, not from the keyword index.
KEYWORD_STATISTICS = (
    "select count(*), sum(w.length) from ("
    "  select (select sum(array_length(w.positions, 1)) "
    "          from unnest(to_tsvector('english', d.title) || c.fts) w) as length "
    "  from (select * from public.document_chunks c offset 0) c "
    "  join public.documents d on d.id = c.document_id) w "
    "where w.length > 0"
)
KEYWORD_MATCHES = (
    "select c.id, (select jsonb_object_agg(w.lexeme, array_length(w.positions, 1)) "
    "              from unnest(to_tsvector('english', d.title) || c.fts) w) "
    "from (select * from public.document_chunks c offset 0) c "
    "join public.documents d on d.id = c.document_id "
    "where c.embedding_model = %(model)s "
    "and (c.fts @@ %(query)s::tsquery or to_tsvector('english', d.title) @@ %(query)s::tsquery)"
)
WALK = {
    "vector": (
        "select id from public.document_chunks where embedding_model = %s "
        "order by embedding operator(extensions.<=>) %s::extensions.vector limit %s"
    ),
    "halfvec": (
        "select id from public.document_chunks where embedding_model = %s "
        "order by (embedding::extensions.halfvec(384)) operator(extensions.<=>) "
        "%s::extensions.halfvec(384) limit %s"
    ),
}


@dataclass(frozen=True)
class Caller:
    label: str
    user_id: str
    model: str
    visible: int


def _user(db: psycopg.Connection, label: str) -> str:
    row = db.execute(
        """insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at)
           values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(),
                   'authenticated', 'authenticated',
                   %s || '-' || gen_random_uuid() || '@bench.local', now())
           returning id""",
        (label,),
    ).fetchone()
    assert row is not None
    return str(row[0])


def _workspace(db: psycopg.Connection, owner: str, viewers: Sequence[str]) -> str:
    row = db.execute(
        "insert into public.workspaces (name, created_by) values ('sweep', %s) returning id",
        (owner,),
    ).fetchone()
    assert row is not None
    for viewer in viewers:
        db.execute(
            "insert into public.workspace_members (workspace_id, user_id, role) "
            "values (%s, %s, 'viewer')",
            (row[0], viewer),
        )
    return str(row[0])


def _document(db: psycopg.Connection, owner: str, workspace: str | None, model: str) -> str:
    row = db.execute(
        """insert into public.documents (owner_id, workspace_id, title, content_hash,
                                         embedding_model)
           values (%s, %s, 'sweep', encode(sha256(gen_random_uuid()::text::bytea), 'hex'), %s)
           returning id""",
        (owner, workspace, model),
    ).fetchone()
    assert row is not None
    return str(row[0])


class Words:
    """Passages of WORDS_PER_ROW words from a Zipf-like vocabulary, so full-text search has
    common and rare terms (every row of 'synthetic passage i' would match every query)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        weights = 1 / (np.arange(VOCABULARY) + 10)
        self.p = weights / weights.sum()

    def passages(self, n: int) -> list[str]:
        ids = self.rng.choice(VOCABULARY, size=(n, WORDS_PER_ROW), p=self.p)
        return [" ".join(f"term{w}" for w in row) for row in ids]

    def query(self) -> str:
        """Two mid-frequency words: any of them matches (BM25 over the query's words)."""
        a, b = self.rng.integers(100, 1000, size=2)
        return f"term{a} term{b}"


def relation_bytes(db: psycopg.Connection, name: str) -> int:
    row = db.execute("select pg_relation_size(%s::regclass)", (f"public.{name}",)).fetchone()
    assert row is not None
    return int(row[0])


def load(db: psycopg.Connection, n: int, report: Report) -> tuple[list[Caller], dict[str, Any]]:
    """Users, workspaces, documents and rows of the sweep; each model's graph built and timed."""
    small = [_user(db, f"owner-{s:g}") for s in SHARES]
    big, member, minority = (_user(db, label) for label in ("everything", "member", "minority"))
    workspaces = [
        _workspace(db, owner, [big, member] if share == 0.01 else [big])
        for owner, share in zip(small, SHARES, strict=True)
    ]
    documents = [
        _document(db, owner, ws, SYNTHETIC_MODEL)
        for owner, ws in zip(small, workspaces, strict=True)
    ]
    documents.append(_document(db, big, None, SYNTHETIC_MODEL))
    counts = [round(n * s) for s in SHARES]
    counts.append(n - sum(counts))
    assigned = np.random.default_rng(n).permutation(np.repeat(np.arange(len(counts)), counts))
    words = Words(SYNTHETIC_SEED)
    generator = EmbeddingLike(np.random.default_rng(SYNTHETIC_SEED))
    report.progress(f"sweep: loading {n:,} rows of the main model")
    started = now()
    block = 100_000
    for start in range(0, n, block):
        size = min(block, n - start)
        copy_chunks(
            db,
            documents,
            assigned[start : start + size],
            words.passages(size),
            generator.sample(size).astype(np.float32),
            first_index=start,
        )
    minority_rows = counts[1]
    other = EmbeddingLike(np.random.default_rng(SYNTHETIC_SEED + 1))
    copy_chunks(
        db,
        [_document(db, minority, None, MINORITY_MODEL)],
        np.zeros(minority_rows, dtype=np.int64),
        words.passages(minority_rows),
        other.sample(minority_rows).astype(np.float32),
    )
    load_s = elapsed_ms(started) / 1000
    db.execute("vacuum analyze public.document_chunks")
    db.execute(sql.SQL("set maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
    figures: dict[str, Any] = {"rows": n, "load_s": load_s, "graphs": {}}
    for model in (SYNTHETIC_MODEL, MINORITY_MODEL):
        report.progress(f"sweep: building the HNSW graph of {model}")
        started = now()
        row = db.execute("select private.add_embedding_model(%s)", (model,)).fetchone()
        assert row is not None
        seconds = elapsed_ms(started) / 1000
        figures["graphs"][model] = {"build_s": seconds, "bytes": relation_bytes(db, str(row[0]))}
    db.execute("reset maintenance_work_mem")
    db.execute("vacuum analyze public.document_chunks")
    callers = [
        Caller(f"{s * 100:g}%", owner, SYNTHETIC_MODEL, c)
        for owner, s, c in zip(small, SHARES, counts, strict=False)
    ]
    callers.append(Caller("100%", big, SYNTHETIC_MODEL, n))
    callers.append(Caller("workspace member (1%)", member, SYNTHETIC_MODEL, counts[2]))
    callers.append(Caller("minority model (0.1%)", minority, MINORITY_MODEL, minority_rows))
    return callers, figures


def as_caller(db: psycopg.Connection, user_id: str | None) -> None:
    if user_id is not None:
        claims = json.dumps({"sub": user_id, "role": "authenticated"})
        db.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        db.execute("set local role authenticated")


def timed(
    db: psycopg.Connection,
    user_id: str | None,
    statement: str,
    params: tuple[object, ...],
    index_scans: bool = False,
) -> tuple[list[int], float]:
    """Rows and milliseconds of one statement as the caller. `index_scans`: the truth of a caller
    who sees a sliver of the table, read through the scope indexes (a plan setting, same rows)."""
    with db.transaction():
        if index_scans:
            db.execute("set local enable_seqscan = off")
        as_caller(db, user_id)
        started = now()
        rows = db.execute(statement, params).fetchall()
        took = elapsed_ms(started)
    return [int(r[0]) for r in rows], took


def chosen_plan(db: psycopg.Connection, run: Callable[[], object]) -> str:
    """What match_documents did: walked a model's graph, or scanned the caller's rows exactly."""
    plans = auto_explained(db, run)
    searches = [p for p in plans if "document_chunks" in p and "<=>" in p and "Limit" in p]
    if any("document_chunks_hnsw_s" in p for p in searches):
        return "scope graph walk"
    walked = any("document_chunks_hnsw_" in p for p in searches)
    exact = any("offset 0" in p for p in searches)
    if walked and exact:
        return "walk, then exact"
    if walked:
        return "HNSW walk"
    if exact:
        scan = "seq scan" if any("Seq Scan on document_chunks" in p for p in searches) else "index"
        return f"exact ({scan})"
    return "unknown"


def recall_at(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    """Share of the true top rows found; a caller with fewer than k rows has a shorter truth."""
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    total = sum(len(t) for t in truth)
    return hits / total if total else 1.0


def summary(samples: Sequence[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95)}


def keyword_statistics(db: psycopg.Connection, caller: Caller, few: bool) -> tuple[int, float]:
    """N and the average length of the passages the caller may see (those with any word)."""
    with db.transaction():
        if few:
            db.execute("set local enable_seqscan = off")
        as_caller(db, caller.user_id)
        row = db.execute(KEYWORD_STATISTICS).fetchone()
    assert row is not None
    n = int(row[0])
    return n, (int(row[1]) / n if n else 0.0)


def keyword_truth(
    db: psycopg.Connection, caller: Caller, text: str, few: bool, statistics: tuple[int, float]
) -> list[tuple[int, float]]:
    """BM25 of the query over the rows the caller may see, computed here (samples/bm25.py) from
    the rows' own words, not from the keyword index: every row holding a query word, scored."""
    words = query_words(db, text)
    n, avglen = statistics
    if not words or not n:
        return []
    query = " | ".join("'" + w.replace("'", "''") + "'" for w in sorted(words))
    with db.transaction():
        if few:
            db.execute("set local enable_seqscan = off")
        as_caller(db, caller.user_id)
        rows = db.execute(KEYWORD_MATCHES, {"model": caller.model, "query": query}).fetchall()
    passages = [Passage(int(i), "", Counter(words_of)) for i, words_of in rows]
    return bm25_scores(passages, words, n, avglen)


def truths(
    db: psycopg.Connection,
    caller: Caller,
    rows: int,
    queries: Sequence[str],
    texts: Sequence[str],
) -> tuple[list[list[int]], list[list[int]]]:
    """The exact semantic top k and the exact hybrid top k of each query, over the rows the caller
    may see. They depend on the data only: a kept database keeps them (the 100% caller's are
    exact scans of the whole table, minutes at 1M)."""
    key = json.dumps(
        [caller.user_id, caller.model, list(queries), list(texts), K, "bm25", HYBRID_DEPTH]
    )
    kept = _kept_schema(db)
    if kept:
        db.execute(
            "create table if not exists bench_kept.truths (key text primary key, answer jsonb)"
        )
        saved = db.execute(
            "select answer from bench_kept.truths where key = md5(%s)", (key,)
        ).fetchone()
        if saved is not None:
            return saved[0][0], saved[0][1]
    semantic, hybrid = [], []
    few = caller.visible <= rows // 5
    statistics = keyword_statistics(db, caller, few)
    for q, text in zip(queries, texts, strict=True):
        with db.transaction():
            if few:
                db.execute("set local enable_seqscan = off")
            as_caller(db, caller.user_id)
            nearest = [
                (int(i), float(s))
                for i, s in db.execute(EXACT, (q, caller.model, q, HYBRID_DEPTH)).fetchall()
            ]
        keyword = keyword_truth(db, caller, text, few, statistics)[:HYBRID_DEPTH]
        semantic.append([i for i, _ in nearest[:K]])
        hybrid.append([i for i, _ in relative_score(keyword, nearest)[:K]])
    if kept:
        db.execute(
            "insert into bench_kept.truths values (md5(%s), %s) on conflict (key) do nothing",
            (key, json.dumps([semantic, hybrid])),
        )
    return semantic, hybrid


def _kept_schema(db: psycopg.Connection) -> bool:
    row = db.execute("select to_regnamespace('bench_kept') is not null").fetchone()
    return bool(row and row[0])


def sweep(
    db: psycopg.Connection,
    rows: int,
    callers: Sequence[Caller],
    queries: Sequence[str],
    texts: Sequence[str],
    repeats: int,
    report: Report,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for caller in callers:
        report.progress(f"sweep: {caller.label} ({caller.visible:,} rows)")
        m = caller.model
        truth_sem, truth_hyb = truths(db, caller, rows, queries, texts)
        figures: dict[str, Any] = {"rows": caller.visible, "model": m}
        for mode, statement in (("semantic", SEMANTIC), ("hybrid", HYBRID)):
            calls: list[tuple[object, ...]] = [
                (q, K, m) if mode == "semantic" else (text, q, K, m)
                for q, text in zip(queries, texts, strict=True)
            ]
            plan = chosen_plan(db, partial(timed, db, caller.user_id, statement, calls[0]))
            samples: list[float] = []
            found: list[list[int]] = []
            for _ in range(repeats):
                for call in calls:
                    ids, took = timed(db, caller.user_id, statement, call)
                    samples.append(took)
                    if len(found) < len(calls):
                        found.append(ids)
            truth = truth_sem if mode == "semantic" else truth_hyb
            figures[mode] = {
                "plan": plan,
                "mean_rows": sum(len(f) for f in found) / len(found),
                "min_rows": min(len(f) for f in found),
                "expected_rows": min(K, caller.visible),
                "recall": recall_at(found, truth),
                **summary(samples),
            }
        result[caller.label] = figures
    return result


def concurrent_walk(
    url: str, statement: str, params: Sequence[tuple[object, ...]], concurrency: int
) -> list[float]:
    """Each of `concurrency` connections runs every query once; latencies of all of them."""

    def worker(offset: int) -> list[float]:
        times = []
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("set hnsw.ef_search = 100")
            for i in range(len(params)):
                started = now()
                conn.execute(statement, params[(i + offset) % len(params)]).fetchall()
                times.append(elapsed_ms(started))
        return times

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        runs = list(pool.map(worker, range(concurrency)))
    return [t for run in runs for t in run]


def scale(
    db: psycopg.Connection,
    url: str,
    graphs: dict[str, Any],
    built_before: dict[str, Any],
    queries: Sequence[str],
    both: bool,
    keep: bool,
    report: Report,
) -> dict[str, Any]:
    """The main model's graph as shipped (add_embedding_model's default storage) and, if `both`,
    in the other storage (built here): build time, size, recall, walks at concurrency 1 and 8.
    A kept database keeps the other graph too, and its build figures from the run that built it."""
    m = SYNTHETIC_MODEL
    truth = [[int(r[0]) for r in db.execute(EXACT, (q, m, q, K)).fetchall()] for q in queries]
    row = db.execute(
        "select index_storage from private.embedding_models where model = %s", (m,)
    ).fetchone()
    assert row is not None
    shipped = str(row[0])
    out: dict[str, Any] = {shipped: {"build_s": graphs[m]["build_s"], "bytes": graphs[m]["bytes"]}}
    other = "vector" if shipped == "halfvec" else "halfvec"
    if both:
        built = db.execute("select to_regclass(%s)", (f"public.{OTHER_INDEX}",)).fetchone()
        previous = built_before.get(other) if built and built[0] else None
        out[other] = (
            {"build_s": previous["build_s"], "bytes": previous["bytes"]}
            if previous
            else build_other(db, other, report)
        )
    db.execute("set hnsw.ef_search = 100")
    for storage in out:
        statement = WALK[storage]
        params = [(m, q, K) for q in queries]
        found = [[int(r[0]) for r in db.execute(statement, p).fetchall()] for p in params]
        out[storage]["recall"] = recall_at(found, truth)
        for concurrency in (1, 8):
            report.progress(f"scale: {storage} at concurrency {concurrency}")
            samples = concurrent_walk(url, statement, params, concurrency)
            out[storage][f"c{concurrency}"] = summary(samples)
    db.execute("reset hnsw.ef_search")
    if both and not keep:
        db.execute(sql.SQL("drop index public.{}").format(sql.Identifier(OTHER_INDEX)))
    return out


def build_other(db: psycopg.Connection, storage: str, report: Report) -> dict[str, Any]:
    """The main model's graph in the storage add_embedding_model did not use, timed."""
    definition = (
        "(embedding::extensions.halfvec(384)) extensions.halfvec_cosine_ops"
        if storage == "halfvec"
        else "embedding extensions.vector_cosine_ops"
    )
    db.execute(sql.SQL("set maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
    report.progress(f"scale: building the {storage} graph")
    started = now()
    db.execute(
        sql.SQL(
            "create index {} on public.document_chunks using hnsw ({}) "
            "with (m = 16, ef_construction = 64) where embedding_model = {}"
        ).format(sql.Identifier(OTHER_INDEX), sql.SQL(definition), sql.Literal(SYNTHETIC_MODEL))
    )
    seconds = elapsed_ms(started) / 1000
    db.execute("reset maintenance_work_mem")
    return {"build_s": seconds, "bytes": relation_bytes(db, OTHER_INDEX)}


def saved_state(db: psycopg.Connection) -> dict[str, Any] | None:
    """What a completed load of a kept database recorded: its callers and build figures."""
    db.execute("create schema if not exists bench_kept")
    db.execute("create table if not exists bench_kept.sweep_state (figures jsonb not null)")
    row = db.execute("select figures from bench_kept.sweep_state").fetchone()
    return None if row is None else dict(row[0])


def save_state(db: psycopg.Connection, callers: Sequence[Caller], figures: dict[str, Any]) -> None:
    state = {**figures, "caller_list": [c.__dict__ for c in callers]}
    db.execute("delete from bench_kept.sweep_state")
    db.execute("insert into bench_kept.sweep_state values (%s)", (json.dumps(state),))


def load_or_reuse(
    db: psycopg.Connection, n: int, keep: bool, report: Report
) -> tuple[list[Caller], dict[str, Any]]:
    """Load the table, or (kept database, loaded before) take its callers and build figures."""
    state = saved_state(db) if keep else None
    if state is not None and state["rows"] == n:
        report.progress(f"sweep: reusing the kept {n:,} rows (built {state['built_at']})")
        callers = [Caller(**c) for c in state.pop("caller_list")]
        state["reused"] = True
        return callers, state
    db.execute("truncate public.documents cascade")  # a kept load cut short starts over
    callers, figures = load(db, n, report)
    figures["built_at"] = time.strftime("%Y-%m-%d %H:%M")
    if keep:
        save_state(db, callers, figures)
    return callers, figures


def measure_tenants(
    db: psycopg.Connection, url: str, profile: Profile, report: Report, keep: bool = False
) -> dict[str, Any]:
    callers, figures = load_or_reuse(db, profile.sweep_rows, keep, report)
    generator = EmbeddingLike(np.random.default_rng(SYNTHETIC_SEED))
    generator.sample(1)  # a different draw from the rows'
    queries = [literal(q) for q in generator.sample(profile.sweep_queries)]
    other = EmbeddingLike(np.random.default_rng(SYNTHETIC_SEED + 1))
    minority_queries = [literal(q) for q in other.sample(profile.sweep_queries)]
    words = Words(SYNTHETIC_SEED + 2)
    texts = [words.query() for _ in queries]
    main = [c for c in callers if c.model == SYNTHETIC_MODEL]
    minority = [c for c in callers if c.model != SYNTHETIC_MODEL]

    def sweep_all() -> dict[str, Any]:
        return {
            **sweep(db, figures["rows"], main, queries, texts, profile.repeats, report),
            **sweep(
                db, figures["rows"], minority, minority_queries, texts, profile.repeats, report
            ),
        }

    drop_scope_graphs(db)  # a kept database keeps them: the first sweep is without
    figures["callers"] = sweep_all()
    _print_sweep(report, figures, "callers", "7. Tenant sweep")
    figures["scope_graphs"] = add_scope_graphs(db, report)
    figures["callers_scoped"] = sweep_all()
    _print_sweep(report, figures, "callers_scoped", "7c. Tenant sweep with scope graphs")
    report.section("7_tenants", figures)  # the sweep's figures are saved before the long part
    figures["scale"] = scale(
        db,
        url,
        figures["graphs"],
        figures.get("scale", {}),
        queries,
        profile.sweep_both_storages,
        keep,
        report,
    )
    if keep:
        save_state(
            db,
            callers,
            {
                k: v
                for k, v in figures.items()
                if k not in ("callers", "callers_scoped", "scope_graphs")
            },
        )
    _print_scale(report, figures)
    return figures


def drop_scope_graphs(db: psycopg.Connection) -> None:
    for owner, workspace, model in db.execute(
        "select owner_id, workspace_id, model from private.scope_graphs"
    ).fetchall():
        db.execute(
            "select private.drop_scope_graph(%s, owner_id => %s, workspace_id => %s)",
            (model, owner, workspace),
        )


def add_scope_graphs(db: psycopg.Connection, report: Report) -> list[dict[str, Any]]:
    """What a scheduled job would do: a graph for every scope private.scopes_needing_a_graph
    lists (big tenants, below half of their model), each timed."""
    built = []
    db.execute(sql.SQL("set maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
    for owner, workspace, model, chunks in db.execute(
        "select owner_id, workspace_id, model, chunks from private.scopes_needing_a_graph()"
    ).fetchall():
        report.progress(f"scope graph: {'owner' if owner else 'workspace'} of {chunks:,} rows")
        started = now()
        row = db.execute(
            "select private.add_scope_graph(%s, owner_id => %s, workspace_id => %s)",
            (model, owner, workspace),
        ).fetchone()
        assert row is not None
        built.append(
            {
                "scope": "owner" if owner else "workspace",
                "rows": chunks,
                "build_s": elapsed_ms(started) / 1000,
                "bytes": relation_bytes(db, str(row[0])),
            }
        )
    db.execute("reset maintenance_work_mem")
    db.execute("analyze public.document_chunks")
    return built


def _print_sweep(report: Report, figures: dict[str, Any], key: str, title: str) -> None:
    n = figures["rows"]
    table = Table(
        f"{title} - synthetic, {n:,} rows of one model (+ a minority model), k = {K}",
        ["caller", "rows", "mode", "plan", "rows back", "recall@10", "p50 ms", "p95 ms"],
    )
    if key == "callers_scoped":
        table.notes.append(
            "after the scope graphs private.scopes_needing_a_graph() lists were built: "
            + ", ".join(
                f"{g['scope']} of {g['rows']:,} rows ({g['build_s']:.0f} s, "
                f"{g['bytes'] / 2**20:.0f} MB)"
                for g in figures["scope_graphs"]
            )
        )
    for label, caller in figures[key].items():
        for mode in ("semantic", "hybrid"):
            f = caller[mode]
            table.add(
                label if mode == "semantic" else "",
                caller["rows"] if mode == "semantic" else "",
                mode,
                f["plan"],
                f"{f['min_rows']}-{f['mean_rows']:.0f} of {f['expected_rows']}",
                f["recall"],
                f["p50_ms"],
                f["p95_ms"],
            )
    table.notes += [
        "as the caller (set local role authenticated + JWT claims), through match_documents / "
        "hybrid_search; recall against the exact answer over the rows the caller may see",
        "plan: what match_documents ran (auto_explain): the model's HNSW graph, or an exact scan "
        "of the caller's rows (through the owner/workspace indexes)",
        "minority model: another model's vectors, as many rows as the 0.1% owner, its own graph",
    ]
    report.table(table)


def _print_scale(report: Report, figures: dict[str, Any]) -> None:
    n = figures["rows"]
    scale_table = Table(
        f"7b. Scale - {n:,} x 384, HNSW 16/64, ef_search 100, bare walk as postgres (all rows)",
        ["storage", "build s", "index MB", "recall@10", "c1 p50", "c1 p95", "c8 p50", "c8 p95"],
    )
    for storage, s in figures["scale"].items():
        scale_table.add(
            storage,
            s["build_s"],
            s["bytes"] / 2**20,
            s["recall"],
            s["c1"]["p50_ms"],
            s["c1"]["p95_ms"],
            s["c8"]["p50_ms"],
            s["c8"]["p95_ms"],
        )
    scale_table.notes.append(
        "halfvec: expression index on embedding::halfvec(384), query cast likewise; "
        "recall against the exact float32 answer; the first row is what add_embedding_model "
        "builds by default"
    )
    report.table(scale_table)
