"""Section 10 (`--only quality`): does search find the right passage in real text? BEIR SciFact.

The 5,183 abstracts go in through the write path every app uses: rows of `documents` (title,
text, the corpus id in metadata) inserted through the gateway's PostgREST with a user's token;
the embedding worker chunks and embeds them (~9 minutes on 2 cores). The collection belongs to
one user (`bench-scifact@bench.local`), deleted at the end of the run unless `--keep-scifact`:
then a later run reuses it and adds only what is missing, so trying an idea costs the queries
only. `--drop-kept` deletes a kept one: after the embedder or the chunking changes (so the
vectors are made again), and before `make test`, whose model-migration test re-embeds every
document of the database (5,183 more would outlast its deadline).

Then every train claim (809, each with a judgement) goes through the API's /v1/search as that
user, in each mode (keyword only, semantic, hybrid), asking for documents ranked by their best
passage (`group_by: document`), k = 100, one request at a time; nDCG@10, recall@10, recall@100
(bench/scifact.py) and the latency of each request as the client sees it.
"""

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import psycopg

from bench.env import StackEnv
from bench.report import Report, Table
from bench.scifact import SciFact, load_scifact, measures
from bench.stats import percentile
from bench.timing import elapsed_ms, now
from local_stack.users import User

KEPT_EMAIL = "bench-scifact@bench.local"
CORPUS_TAG = "scifact"
INSERT_BATCH = 100
INGEST_DEADLINE_S = 3600  # ~9 minutes on 2 cores; a worker that is down must not hang the run
DEPTH = 100  # documents asked for: recall@100 needs them
MODES = ("keyword", "semantic", "hybrid")
# Published figures on SciFact's test split (data folder README): nDCG@10 and recall@100.
ANCHORS: tuple[tuple[str, float, float | None], ...] = (
    ("BM25 (Elasticsearch), BEIR paper", 0.665, 0.908),
    ("BM25 (Lucene, title+text), Anserini", 0.679, 0.925),
    ("Postgres ts_rank, QuackIR", 0.606, None),
    ("all-MiniLM-L6-v2 dense, MTEB", 0.645, 0.925),
    ("Postgres full text + BGE-base RRF, QuackIR", 0.680, None),
    ("BM25 + MiniLM cross-encoder, BEIR paper", 0.688, None),
    ("gte-small dense, MTEB", 0.727, None),
)


def kept_user(env: StackEnv) -> User:
    """The collection's owner: made once, found by its address afterwards."""
    return env.stack.create_user(KEPT_EMAIL)


def drop_kept_collection(env: StackEnv, progress: Callable[[str], None]) -> None:
    """Delete the collection's user, and with it everything it owns."""
    with psycopg.connect(env.db_url, autocommit=True) as db:
        gone = db.execute("delete from auth.users where email = %s", (KEPT_EMAIL,)).rowcount
    if gone:
        progress(f"deleted {KEPT_EMAIL} and the SciFact collection it owned")


def stored_ids(env: StackEnv, user: User) -> set[str]:
    with psycopg.connect(env.db_url) as db:
        rows = db.execute(
            "select metadata ->> 'corpus_id' from public.documents "
            "where owner_id = %s and metadata ->> 'corpus' = %s",
            (user.id, CORPUS_TAG),
        ).fetchall()
    return {str(r[0]) for r in rows}


def status_counts(env: StackEnv, user: User) -> dict[str, int]:
    with psycopg.connect(env.db_url) as db:
        rows = db.execute(
            "select embedding_status, count(*) from public.documents where owner_id = %s "
            "group by 1",
            (user.id,),
        ).fetchall()
    return {str(status): int(n) for status, n in rows}


def passage_count(env: StackEnv, user: User) -> int:
    with psycopg.connect(env.db_url) as db:
        row = db.execute(
            "select count(*) from public.document_chunks where owner_id = %s", (user.id,)
        ).fetchone()
    return int(row[0]) if row else 0


def ingest(
    env: StackEnv, user: User, token: str, data: SciFact, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Insert the abstracts not stored yet through PostgREST as the user; wait until the worker
    has embedded every one. Returns what it did and how long it took."""
    have = stored_ids(env, user)
    missing = [
        (doc_id, title, text)
        for doc_id, title, text in zip(data.doc_ids, data.titles, data.texts, strict=True)
        if doc_id not in have
    ]
    started = time.monotonic()
    if missing:
        progress(f"scifact: inserting {len(missing):,} abstracts through PostgREST")
        headers = {
            "apikey": env.anon_key,
            "Authorization": f"Bearer {token}",
            "Prefer": "return=minimal",
        }
        with httpx.Client(base_url=f"{env.api_url}/rest/v1", timeout=120) as client:
            for start in range(0, len(missing), INSERT_BATCH):
                batch = missing[start : start + INSERT_BATCH]
                response = client.post(
                    "/documents",
                    headers=headers,
                    json=[
                        {
                            "title": title.strip(),
                            "content": text.strip(),
                            "metadata": {"corpus": CORPUS_TAG, "corpus_id": doc_id},
                        }
                        for doc_id, title, text in batch
                    ],
                )
                response.raise_for_status()
    polls = 0
    while True:
        counts = status_counts(env, user)
        open_ = sum(n for status, n in counts.items() if status not in ("ready", "failed"))
        if not open_:
            break
        if time.monotonic() - started > INGEST_DEADLINE_S:
            raise RuntimeError(f"the worker has not embedded SciFact in time: {counts}")
        if polls % 6 == 0:
            progress(f"scifact: waiting for the worker ({counts})")
        time.sleep(5)
        polls += 1
    if counts.get("failed"):
        raise RuntimeError(f"the worker failed {counts['failed']} SciFact documents")
    return {
        "inserted": len(missing),
        "documents": counts.get("ready", 0),
        "passages": passage_count(env, user),
        "ingest_s": time.monotonic() - started if missing else None,
    }


def run_queries(
    env: StackEnv, token: str, data: SciFact, mode: str
) -> tuple[dict[str, list[str]], list[float]]:
    """Every claim through /v1/search, documents by best passage; corpus ids in rank order."""
    rankings: dict[str, list[str]] = {}
    times: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=env.kb_api_url, headers=headers, timeout=120) as client:
        for query_id, text in data.claims.items():
            body = {"query": text, "k": DEPTH, "mode": mode, "group_by": "document"}
            started = now()
            response = client.post("/v1/search", json=body)
            times.append(elapsed_ms(started))
            response.raise_for_status()
            rankings[query_id] = [
                str(hit["metadata"]["corpus_id"]) for hit in response.json()["results"]
            ]
    return rankings, times


def measure_scifact(
    env: StackEnv,
    report: Report,
    modes: Sequence[str] = MODES,
    repeats: int = 1,
    keep: bool = False,
) -> dict[str, Any]:
    data = load_scifact()
    user = kept_user(env)
    try:
        return _measure(env, report, data, user, modes, repeats)
    finally:
        if not keep:
            drop_kept_collection(env, report.progress)


def _measure(
    env: StackEnv,
    report: Report,
    data: SciFact,
    user: User,
    modes: Sequence[str],
    repeats: int,
) -> dict[str, Any]:
    token = env.stack.access_token(user, expires_in=4 * 3600)
    figures: dict[str, Any] = {
        "split": "train",
        "queries": len(data.claims),
        "collection": ingest(env, user, token, data, report.progress),
        "modes": {},
    }
    # A first pass puts every claim's embedding in the API's cache, so the timed passes compare
    # searches, not model calls (section 8 measures the model).
    report.progress("scifact: embedding the claims once (API query cache)")
    run_queries(env, token, data, "semantic")
    for mode in modes:
        samples: list[float] = []
        rankings: dict[str, list[str]] = {}
        for repeat in range(repeats):
            report.progress(f"scifact: {len(data.claims)} claims, {mode}, pass {repeat + 1}")
            rankings, times = run_queries(env, token, data, mode)
            samples += times
        figures["modes"][mode] = {
            **measures(data, rankings),
            "p50_ms": percentile(samples, 50),
            "p95_ms": percentile(samples, 95),
        }
    _print(report, figures)
    return figures


def _print(report: Report, figures: dict[str, Any]) -> None:
    c = figures["collection"]
    table = Table(
        f"10. Retrieval quality - BEIR SciFact, {figures['queries']} train claims, "
        f"{c['documents']:,} abstracts in {c['passages']:,} passages, through the API",
        ["search", "nDCG@10", "recall@10", "recall@100", "p50 ms", "p95 ms"],
    )
    for mode, f in figures["modes"].items():
        table.add(
            mode,
            *(f"{f[key]:.3f}" for key in ("ndcg_at_10", "recall_at_10", "recall_at_100")),
            f["p50_ms"],
            f["p95_ms"],
        )
    for name, ndcg, recall in ANCHORS:
        table.add(f"anchor (test split): {name}", f"{ndcg:.3f}", "", f"{recall or '':}")
    if c["ingest_s"] is not None:
        table.notes.append(
            f"ingested through PostgREST and the embedding worker in {c['ingest_s']:.0f} s"
        )
    table.notes += [
        "documents ranked by their best passage (group_by document), k = 100, one request at "
        "a time; latency as the client sees it, query embeddings cached",
        "anchors: published figures on SciFact's test split, whole abstracts (not passages)",
    ]
    report.table(table)
