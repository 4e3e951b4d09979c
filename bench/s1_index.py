"""Section 1: HNSW quality and speed in Postgres, with no RLS and no network in the way.

recall@10 is measured against Postgres' own exact answer (`enable_indexscan = off`: a sequential
scan computing every distance), per query, over held-out queries. Latency is what a client on the
same machine sees for the bare nearest-neighbour statement (round trip included, query text
formatted beforehand), at each `hnsw.ef_search` of the sweep, repeated with the sweep order
rotated so drift of a noisy machine does not favour one setting. Build time and size are measured
per (m, ef_construction); the shipped pair is built last and left in place for the next sections.
"""

import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from bench.benchdb import build_hnsw, table_bytes
from bench.config import BUILD_CONFIGS, EF_SEARCH, SHIPPED_EF_SEARCH, SHIPPED_HNSW, K, Profile
from bench.datasets import Dataset
from bench.plans import explain
from bench.report import Report, Table, fmt_spread
from bench.stats import Repeated, ratio, repeated
from bench.timing import now, time_serial
from bench.vectors import literal

KNN = (
    "select id from public.document_chunks "
    "order by embedding operator(extensions.<=>) %s::extensions.vector limit %s"
)
MIB = 2**20


def nearest(db: psycopg.Connection, query: str, k: int = K) -> list[int]:
    return [int(row[0]) for row in db.execute(KNN, (query, k)).fetchall()]


def set_ef_search(db: psycopg.Connection, ef: int) -> None:
    db.execute(sql.SQL("set hnsw.ef_search = {}").format(sql.Literal(ef)))


def exact_truth(db: psycopg.Connection, queries: Sequence[str]) -> list[list[int]]:
    """The true top-k of each query: index scans off, so Postgres computes every distance."""
    db.execute("set enable_indexscan = off")
    try:
        return [nearest(db, q) for q in queries]
    finally:
        db.execute("reset enable_indexscan")


def recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    total = sum(len(t) for t in truth)
    return hits / total if total else float("nan")


def time_exact(db: psycopg.Connection, queries: Sequence[str], repeats: int) -> Repeated:
    db.execute("set enable_indexscan = off")
    try:
        runs = [time_serial(lambda q: nearest(db, q), queries) for _ in range(repeats)]
    finally:
        db.execute("reset enable_indexscan")
    return repeated([r.latencies_ms for r in runs], [r.per_second for r in runs])


def parallel_qps(url: str, queries: Sequence[str], ef: int, clients: int) -> float:
    """Queries per second with `clients` connections at once (one per core of this machine)."""
    connections = [psycopg.connect(url, autocommit=True) for _ in range(clients)]
    try:
        for db in connections:
            db.execute("set enable_seqscan = off")
            set_ef_search(db, ef)
            nearest(db, queries[0])  # prepared and warm before the clock starts
        barrier = threading.Barrier(clients + 1)

        def work(db: psycopg.Connection, share: Sequence[str]) -> None:
            barrier.wait()
            for q in share:
                nearest(db, q)

        threads = [
            threading.Thread(target=work, args=(db, queries[i::clients]))
            for i, db in enumerate(connections)
        ]
        for t in threads:
            t.start()
        barrier.wait()
        started = now()
        for t in threads:
            t.join()
        return len(queries) / (now() - started)
    finally:
        for db in connections:
            db.close()


def measure_index(
    db: psycopg.Connection, url: str, dataset: Dataset, profile: Profile, report: Report
) -> dict[str, Any]:
    """Run on a freshly loaded table without an HNSW index; leaves the shipped index built."""
    queries = [literal(q) for q in dataset.queries[: profile.queries]]
    report.progress(f"{dataset.name}: exact top-{K} of {len(queries)} queries (sequential scans)")
    truth = exact_truth(db, queries)
    exact = time_exact(db, queries[: profile.exact_timing_queries], profile.repeats)
    configs = [SHIPPED_HNSW] if dataset.size > 200_000 else list(BUILD_CONFIGS)
    builds: list[dict[str, Any]] = []
    for m, ef_construction in configs:
        report.progress(f"{dataset.name}: building HNSW m={m} ef_construction={ef_construction}")
        seconds, size = build_hnsw(db, m, ef_construction)
        shipped = (m, ef_construction) == SHIPPED_HNSW
        planner: dict[int, str] = {}
        for ef in EF_SEARCH:  # what the planner picks by itself
            set_ef_search(db, ef)
            planner[ef] = explain(db, KNN, (queries[0], K))
        # Measure the index even where the planner would rather scan (small tables): the column
        # "planner's pick" says where that is.
        db.execute("set enable_seqscan = off")
        try:
            set_ef_search(db, EF_SEARCH[0])
            for q in queries:  # warm the index pages and the prepared statement
                nearest(db, q)
            found: dict[int, list[list[int]]] = {}
            samples: dict[int, list[list[float]]] = {ef: [] for ef in EF_SEARCH}
            rates: dict[int, list[float]] = {ef: [] for ef in EF_SEARCH}
            for r in range(profile.repeats):
                order = EF_SEARCH[r % len(EF_SEARCH) :] + EF_SEARCH[: r % len(EF_SEARCH)]
                for ef in order:
                    set_ef_search(db, ef)
                    run = time_serial(lambda q: nearest(db, q), queries)
                    found.setdefault(ef, run.results)
                    samples[ef].append(run.latencies_ms)
                    rates[ef].append(run.per_second)
            measured = explain(db, KNN, (queries[0], K))
        finally:
            db.execute("reset enable_seqscan")
        sweep: dict[int, dict[str, Any]] = {}
        for ef in EF_SEARCH:
            sweep[ef] = {
                "recall": recall(found[ef], truth),
                "latency": repeated(samples[ef], rates[ef]),
                "planner_pick": planner[ef],
                "measured_path": measured,
            }
            if shipped:
                sweep[ef]["qps_2_clients"] = parallel_qps(url, queries, ef, clients=2)
        builds.append(
            {
                "m": m,
                "ef_construction": ef_construction,
                "shipped": shipped,
                "build_seconds": seconds,
                "index_bytes": size,
                "sweep": sweep,
            }
        )
    result = {
        "kind": dataset.kind,
        "rows": dataset.size,
        "queries": len(queries),
        "table_bytes": table_bytes(db),
        "exact": exact,
        "builds": builds,
    }
    _print(report, dataset, result)
    return result


def shipped_point(result: dict[str, Any], ef: int = SHIPPED_EF_SEARCH) -> dict[str, Any]:
    build = next(b for b in result["builds"] if b["shipped"])
    point: dict[str, Any] = build["sweep"][ef]
    return point


def _print(report: Report, dataset: Dataset, result: dict[str, Any]) -> None:
    label = f"{dataset.name} ({dataset.kind}, {dataset.size:,} rows x 384 dims)"
    sweep = Table(
        f"1. HNSW recall@{K} and latency vs hnsw.ef_search - {label}",
        [
            "m/ef_construction",
            "ef_search",
            f"recall@{K}",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "QPS 1 client",
            "QPS 2 clients",
            "planner's pick",
        ],
    )
    for build in result["builds"]:
        name = f"{build['m']}/{build['ef_construction']}" + (
            " (shipped)" if build["shipped"] else ""
        )
        for ef, point in build["sweep"].items():
            latency: Repeated = point["latency"]
            sweep.add(
                name,
                ef,
                point["recall"],
                fmt_spread(latency.p50),
                fmt_spread(latency.p95),
                latency.pooled.p99,
                fmt_spread(latency.rate, 0),
                point.get("qps_2_clients"),
                point["planner_pick"],
            )
    sweep.notes += [
        "latency: median over repeats [min-max], each repeat all queries one after another on one "
        "connection; p99 over all repeats pooled; QPS 2 clients: two connections at once",
        "measured with enable_seqscan = off so every row is the HNSW index; planner's pick: the "
        "access path Postgres chooses without that hint",
    ]
    report.table(sweep)
    build_table = Table(
        f"1b. HNSW build - {label}",
        ["m", "ef_construction", "build s", "index MiB", "rows/s"],
    )
    for build in result["builds"]:
        build_table.add(
            build["m"],
            build["ef_construction"],
            build["build_seconds"],
            build["index_bytes"] / MIB,
            result["rows"] / build["build_seconds"],
        )
    build_table.notes.append(
        f"table with its other indexes: {result['table_bytes'] / MIB:,.0f} MiB; "
        "maintenance_work_mem 2GB for the build, parallel workers as the server allows"
    )
    report.table(build_table)
    exact: Repeated = result["exact"]
    shipped = shipped_point(result)
    hnsw: Repeated = shipped["latency"]
    speed = Table(
        f"1c. Exact scan vs HNSW (shipped m=16/ef_construction=64, ef_search={SHIPPED_EF_SEARCH}) "
        f"- {label}",
        ["search", "p50 ms", "p95 ms", f"recall@{K}", "p50 ratio"],
    )
    speed.add(
        "exact (enable_indexscan = off)",
        fmt_spread(exact.p50),
        fmt_spread(exact.p95),
        1.0,
        ratio(exact.p50.median, hnsw.p50.median),
    )
    speed.add("HNSW", fmt_spread(hnsw.p50), fmt_spread(hnsw.p95), shipped["recall"], 1.0)
    speed.notes.append("p50 ratio: how many times slower than HNSW")
    report.table(speed)
