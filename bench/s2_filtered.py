"""Section 2: search restricted by RLS to one user's rows, at 1%, 10% and 50% of the table.

An HNSW walk visits about ef_search candidates; if only 1% of them belong to the caller, a plain
walk returns ~1 row instead of k. pgvector's iterative scan keeps walking until k rows pass the
filter. This measures, as the caller really runs (`set local role authenticated` with the JWT
claims PostgREST would set), how many rows come back and their recall@10 against the exact answer
over the caller's rows, with iterative scans off and `relaxed_order`; and what RLS costs: the same
match_documents call as the table owner `postgres` (RLS bypassed: it searches every row) and as
the user, plus the same statement with the owner filter written by hand, which separates the cost
of the policy from the cost of searching a sparse subset.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import psycopg

from bench.benchdb import Owner
from bench.config import SHIPPED_EF_SEARCH, K, Profile
from bench.datasets import Dataset
from bench.plans import nested_plans
from bench.report import Report, Table, fmt_spread
from bench.s1_index import recall
from bench.stats import Repeated, ratio_spread, repeated
from bench.timing import elapsed_ms, now
from bench.vectors import literal

MATCH = "select id from public.match_documents(%s::extensions.vector, %s)"
WALK = (
    "select c.id from public.document_chunks c "
    "order by c.embedding operator(extensions.<=>) %s::extensions.vector limit %s"
)
WALK_OWNER = (
    "select c.id from public.document_chunks c where c.owner_id = %s "
    "order by c.embedding operator(extensions.<=>) %s::extensions.vector limit %s"
)


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    as_user: bool
    statement: str
    iterative_scan: str | None  # None: as match_documents sets it (relaxed_order)
    owner_filter: bool = False


VARIANTS = (
    Variant("match_postgres", "match_documents as postgres (no RLS, all rows)", False, MATCH, None),
    Variant("match_user", "match_documents as the user (RLS)", True, MATCH, None),
    Variant("walk_off", "statement as the user, iterative_scan=off", True, WALK, "off"),
    Variant("walk_relaxed", "statement as the user, relaxed_order", True, WALK, "relaxed_order"),
    Variant(
        "walk_owner_relaxed",
        "statement as postgres + where owner_id = user, relaxed_order",
        False,
        WALK_OWNER,
        "relaxed_order",
        owner_filter=True,
    ),
)


def run_variant(
    db: psycopg.Connection, variant: Variant, owner: Owner, query: str
) -> tuple[list[int], float]:
    """One search in its own transaction, set up as PostgREST would; only the search is timed."""
    with db.transaction():
        if variant.iterative_scan is not None:
            db.execute(
                "select set_config('hnsw.iterative_scan', %s, true)", (variant.iterative_scan,)
            )
            db.execute("select set_config('hnsw.ef_search', %s, true)", (str(SHIPPED_EF_SEARCH),))
        if variant.as_user:
            claims = json.dumps({"sub": owner.user_id, "role": "authenticated"})
            db.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            db.execute("set local role authenticated")
        params: tuple[object, ...] = (
            (owner.user_id, query, K) if variant.owner_filter else (query, K)
        )
        started = now()
        rows = db.execute(variant.statement, params).fetchall()
        took = elapsed_ms(started)
    return [int(r[0]) for r in rows], took


def owner_truth(db: psycopg.Connection, owner: Owner, queries: Sequence[str]) -> list[list[int]]:
    db.execute("set enable_indexscan = off")
    try:
        return [
            [int(r[0]) for r in db.execute(WALK_OWNER, (owner.user_id, q, K)).fetchall()]
            for q in queries
        ]
    finally:
        db.execute("reset enable_indexscan")


def measure_filtered(
    db: psycopg.Connection,
    dataset: Dataset,
    owners: Sequence[Owner],
    assigned_counts: Sequence[int],
    profile: Profile,
    report: Report,
) -> dict[str, Any]:
    queries = [literal(q) for q in dataset.queries[: profile.filtered_queries]]
    result: dict[str, Any] = {"kind": dataset.kind, "rows": dataset.size, "owners": {}}
    for owner, owned in zip(owners, assigned_counts, strict=False):
        if owner.share is None:
            continue
        report.progress(f"{dataset.name}: owner of {owner.label} ({owned:,} rows)")
        truth = owner_truth(db, owner, queries)
        plans = {  # also the warm-up: plans, pages, the function's cached statement
            v.key: nested_plans(db, partial(run_variant, db, v, owner, queries[0]))
            for v in VARIANTS
        }
        found: dict[str, list[list[int]]] = {}
        samples: dict[str, list[list[float]]] = {v.key: [] for v in VARIANTS}
        rates: dict[str, list[float]] = {v.key: [] for v in VARIANTS}
        for r in range(profile.repeats):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for variant in order:
                ids, times = [], []
                started = now()
                for q in queries:
                    got, took = run_variant(db, variant, owner, q)
                    ids.append(got)
                    times.append(took)
                wall_s = elapsed_ms(started) / 1000
                found.setdefault(variant.key, ids)
                samples[variant.key].append(times)
                rates[variant.key].append(len(queries) / wall_s)
        figures: dict[str, Any] = {}
        for variant in VARIANTS:
            rows = [len(x) for x in found[variant.key]]
            figures[variant.key] = {
                "label": variant.label,
                # As postgres, match_documents searches every row: the owner's truth does not apply.
                "recall": None
                if variant.key == "match_postgres"
                else recall(found[variant.key], truth),
                "mean_rows": sum(rows) / len(rows),
                "full_k_share": sum(n == K for n in rows) / len(rows),
                "latency": repeated(samples[variant.key], rates[variant.key]),
                "plan": plans[variant.key],
            }
        result["owners"][owner.label] = {"rows": owned, "variants": figures}
    _print(report, dataset, result)
    return result


def _print(report: Report, dataset: Dataset, result: dict[str, Any]) -> None:
    table = Table(
        f"2. Filtered / RLS-restricted search - {dataset.name} ({dataset.kind}, "
        f"{dataset.size:,} rows), HNSW 16/64, ef_search {SHIPPED_EF_SEARCH}",
        [
            "owner",
            "search",
            f"recall@{K}",
            "rows (mean)",
            f"{K} rows",
            "p50 ms",
            "p95 ms",
            "p50 vs postgres",
            "plan",
        ],
    )
    for label, owner in result["owners"].items():
        variants = owner["variants"]
        base: Repeated = variants["match_postgres"]["latency"]
        for key, v in variants.items():
            latency: Repeated = v["latency"]
            table.add(
                f"{label} ({owner['rows']:,} rows)" if key == "match_postgres" else "",
                v["label"],
                v["recall"],
                v["mean_rows"],
                f"{v['full_k_share']:.0%}",
                fmt_spread(latency.p50),
                fmt_spread(latency.p95),
                fmt_spread(ratio_spread([r.p50 for r in latency.runs], [r.p50 for r in base.runs])),
                v["plan"],
            )
    table.notes += [
        "recall against the exact top-10 of the owner's own rows (enable_indexscan = off)",
        "'as the user': set_config('request.jwt.claims', ...) + set local role authenticated, as "
        "PostgREST does; only the search statement is timed",
        "RLS cost = 'match_documents as the user' vs 'as postgres' (p50 vs postgres, paired per "
        "repeat); with the same plan (HNSW), 'statement as the user, relaxed_order' vs 'statement "
        "as postgres + where owner_id' is the policy's own cost",
        "plan: the search's access path (auto_explain, nested statements included); with a "
        "hand-written owner_id filter the planner may use the owner_id btree and sort exactly",
    ]
    report.table(table)
