"""Section 6: does search find what was asked for? A known-item test on the real corpus.

Each query is one sentence of a stored passage, so the right answer is known without labelling:
the passages that contain that sentence. hit@1, hit@10 and MRR@10 compare semantic search
(match_documents) with hybrid search (hybrid_search: full text and vectors fused by RRF), both
as the functions ship, on the real embeddings loaded in the scratch database.
"""

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg

from bench.config import BENCH_EMBEDDER, K, Profile
from bench.datasets import Dataset
from bench.report import Report, Table, fmt_spread
from bench.stats import repeated
from bench.timing import elapsed_ms, now
from bench.vectors import literal
from knowledge_core.embeddings.local import LocalEmbedder

SEED = 6
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
SEMANTIC = "select id from public.match_documents(%s::extensions.vector, %s)"
HYBRID = "select id from public.hybrid_search(%s, %s::extensions.vector, %s)"


def _good_sentence(sentence: str) -> bool:
    words = sentence.split()
    if not 8 <= len(words) <= 40 or ">>>" in sentence:
        return False
    alphabetic = sum(w.strip(".,;:()'\"").isalpha() for w in words)
    return alphabetic / len(words) >= 0.7


def known_items(contents: Sequence[str], wanted: int) -> list[tuple[str, set[int]]]:
    """(sentence, rows containing it) for sentences found in at most two passages (overlap can
    repeat a sentence in the next passage; a sentence everywhere is no known item)."""
    rng = np.random.default_rng(SEED)
    items: list[tuple[str, set[int]]] = []
    seen: set[str] = set()
    for row in rng.permutation(len(contents)):
        sentences = [s for s in _SENTENCE.split(contents[int(row)]) if _good_sentence(s)]
        if not sentences:
            continue
        sentence = sentences[int(rng.integers(len(sentences)))]
        if sentence in seen:
            continue
        seen.add(sentence)
        holders = {i for i, text in enumerate(contents) if sentence in text}
        if len(holders) <= 2:
            items.append((sentence, holders))
        if len(items) >= wanted:
            break
    return items


def _embed(texts: list[str]) -> list[list[float]]:
    async def run() -> list[list[float]]:
        embedder = LocalEmbedder(BENCH_EMBEDDER)
        try:
            return await embedder.embed(texts)
        finally:
            await embedder.aclose()

    return asyncio.run(run())


def _rank(found: Sequence[int], relevant: set[int]) -> int | None:
    for position, row_id in enumerate(found, start=1):
        if row_id in relevant:
            return position
    return None


def measure_quality(
    db: psycopg.Connection, dataset: Dataset, profile: Profile, report: Report
) -> dict[str, Any]:
    ids_by_row: dict[int, int] = dict(
        db.execute("select chunk_index, id from public.document_chunks").fetchall()
    )
    items = known_items(dataset.contents, profile.quality_queries)
    report.progress(f"{dataset.name}: {len(items)} known-item queries, semantic vs hybrid")
    vectors = [literal(v) for v in _embed([sentence for sentence, _ in items])]
    modes: dict[str, Any] = {}
    for mode in ("semantic", "hybrid"):
        ranks: list[int | None] = []
        times: list[float] = []
        for (sentence, holders), vector in zip(items, vectors, strict=True):
            relevant = {int(ids_by_row[row]) for row in holders}
            params: tuple[object, ...] = (
                (vector, K) if mode == "semantic" else (sentence, vector, K)
            )
            started = now()
            found = [
                int(r[0])
                for r in db.execute(SEMANTIC if mode == "semantic" else HYBRID, params).fetchall()
            ]
            times.append(elapsed_ms(started))
            ranks.append(_rank(found, relevant))
        n = len(ranks)
        modes[mode] = {
            "hit_at_1": sum(r == 1 for r in ranks) / n,
            "hit_at_10": sum(r is not None for r in ranks) / n,
            "mrr_at_10": sum(1 / r for r in ranks if r is not None) / n,
            "latency": repeated([times], [n / (sum(times) / 1000)]),
        }
    result = {"kind": dataset.kind, "rows": dataset.size, "queries": len(items), "modes": modes}
    table = Table(
        f"6. Retrieval quality, known items - {dataset.name} ({dataset.kind}, {dataset.size:,} "
        f"passages), {len(items)} queries",
        ["search", "hit@1", f"hit@{K}", f"MRR@{K}", "p50 ms", "p95 ms"],
    )
    for mode, figures in modes.items():
        table.add(
            mode,
            figures["hit_at_1"],
            figures["hit_at_10"],
            figures["mrr_at_10"],
            fmt_spread(figures["latency"].p50),
            fmt_spread(figures["latency"].p95),
        )
    table.notes.append(
        "query: one sentence of a stored passage; a hit is any passage containing that sentence "
        "(at most two: chunk overlap)"
    )
    report.table(table)
    return result
