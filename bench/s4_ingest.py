"""Section 4: ingest throughput end to end against the embedder alone, and query-embedding latency.

Embedding is the expensive part of an ingest, so the question is how much everything else adds:
the write (JSON, HTTP, the ingest_document RPC), the queue, the stack's embedding worker (which
chunks, embeds through the stack's shared embedder with its own EMBEDDING_BATCH_SIZE, 64, and
writes the passages with their HNSW inserts and RLS checks) and the edge waiting for `ready`.
For each batch size, each document is embedded by the model alone (knowledge_core's
embed_in_batches, in this process) right before or after it is ingested (the order alternates),
so both sides see the same moment of a shared machine: in process through knowledge_core's
CallerKnowledge.add_document (no HTTP in front), or over HTTP by POST /v1/documents to an API
process of its own. The batch size is the embedder-alone side's; the ingest side's is the
worker's. Documents go one at a time, as the kb CLI sends them; the API gets other documents of
the same size (the same text twice would be the same document).
"""

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable
from contextlib import ExitStack
from typing import Any

import aiohttp
import numpy as np
from pydantic import AnyHttpUrl, SecretStr

from bench.config import BENCH_EMBEDDER, INGEST_BATCH_SIZES, Profile
from bench.corpus import Corpus
from bench.env import StackEnv
from bench.processes import api_process
from bench.report import Report, Table, fmt_spread
from bench.stats import ratio, spread, summarize
from bench.timing import elapsed_ms, now
from knowledge_core.chunking import chunk_text
from knowledge_core.embeddings import embed_in_batches
from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.knowledge import Knowledge
from knowledge_core.models import NewDocument
from knowledge_core.rest import RestPool
from knowledge_core.settings import Settings
from knowledge_core.tokens import Caller, TokenVerifier
from local_stack.settings import REPO_ROOT

DOCUMENT_CHARS = 24_000  # under BACKGROUND_THRESHOLD_CHARS: searchable before the answer (201)
WAIT_SECONDS = 60.0  # the longest a write may wait for the worker
SEED = 4


def documents(corpus: Corpus, count: int) -> list[NewDocument]:
    """Documents of ~24k characters, made of whole stdlib modules' prose, all different."""
    order = np.random.default_rng(SEED).permutation(len(corpus.modules))
    docs: list[NewDocument] = []
    parts: list[str] = []
    length = 0
    for i in order:
        module = corpus.modules[int(i)]
        parts.append(module.text)
        length += len(module.text)
        if length >= DOCUMENT_CHARS:
            text = "\n\n".join(parts)[:DOCUMENT_CHARS]
            docs.append(NewDocument(title=f"stdlib prose #{len(docs)}", content=text))
            parts, length = [], 0
            if len(docs) == count:
                return docs
    raise RuntimeError(f"the corpus holds only {len(docs)} documents of {DOCUMENT_CHARS} chars")


def settings_for(env: StackEnv, batch_size: int) -> Settings:
    edge = env.edge_environment()
    return Settings(
        supabase_url=AnyHttpUrl(edge["SUPABASE_URL"]),
        supabase_anon_key=SecretStr(edge["SUPABASE_ANON_KEY"]),
        supabase_jwt_secret=SecretStr(edge["SUPABASE_JWT_SECRET"]),
        embedding_batch_size=batch_size,
    )


def ten_word_queries(corpus: Corpus, n: int) -> list[str]:
    words = " ".join(corpus.passages[:2000]).split()
    rng = np.random.default_rng(SEED)
    starts = rng.integers(0, len(words) - 10, size=n)
    return [" ".join(words[s : s + 10]) for s in starts]


def query_embedding_probe(corpus: Corpus, profile: Profile, report: Report) -> dict[str, Any]:
    """Fresh processes, one per cold figure: load, first call, then warm uncached calls."""
    probes = []
    for i in range(profile.cold_probes):
        report.progress(
            f"ingest: query embedding probe {i + 1}/{profile.cold_probes} (new process)"
        )
        queries = ten_word_queries(corpus, profile.warm_queries + 1 + i)[i:]
        done = subprocess.run(
            [sys.executable, "-m", "bench.embed_probe"],
            input=json.dumps(queries),
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
            timeout=600,
        )
        probes.append(json.loads(done.stdout.strip().splitlines()[-1]))
    warm = [ms for p in probes for ms in p["warm_ms"]]
    return {
        "load_s": spread([p["load_s"] for p in probes]),
        "cold_first_ms": spread([p["first_ms"] for p in probes]),
        "warm_ms": summarize(warm),
        "warm_p50_per_probe_ms": spread([summarize(p["warm_ms"]).p50 for p in probes]),
        "cache_hit_ms": spread([p["cache_hit_ms"] for p in probes]),
    }


async def _embed_alone(embedder: LocalEmbedder, settings: Settings, doc: NewDocument) -> int:
    """The model alone on one document's chunks (cut as the edge cuts them), in batches of the
    settings' EMBEDDING_BATCH_SIZE; returns the number of chunks."""
    chunks = chunk_text(
        doc.content,
        size=settings.chunk_size,
        overlap=settings.chunk_overlap,
        max_chars=settings.max_document_chars,
    )
    await embed_in_batches(embedder, chunks, batch_size=settings.embedding_batch_size)
    return len(chunks)


async def _ingest_in_process(knowledge: Knowledge, caller: Caller, doc: NewDocument) -> int:
    result = await knowledge.for_caller(caller).add_document(doc, wait=WAIT_SECONDS)
    if result.embedding_status != "ready" or result.passages_total is None:
        raise RuntimeError(f"not embedded within {WAIT_SECONDS} s: {result}")
    return result.passages_total


async def _ingest_api(
    session: aiohttp.ClientSession, url: str, token: str, doc: NewDocument
) -> int:
    async with session.post(
        f"{url}/v1/documents",
        params={"wait": str(WAIT_SECONDS)},
        json=doc.model_dump(mode="json", exclude_none=True),
        headers={"Authorization": f"Bearer {token}"},
    ) as r:
        body = await r.json()
        if r.status != 201:
            raise RuntimeError(f"POST /v1/documents: HTTP {r.status}: {body}")
        return int(body["passages_total"])


class _Tally:
    """Chunks and seconds per way of handling them, summed over a measurement's documents."""

    def __init__(self) -> None:
        self.chunks: dict[str, int] = {}
        self.seconds: dict[str, float] = {}

    async def time(self, key: str, work: Awaitable[int]) -> None:
        started = now()
        chunks = await work
        self.seconds[key] = self.seconds.get(key, 0.0) + elapsed_ms(started) / 1000
        self.chunks[key] = self.chunks.get(key, 0) + chunks

    def rate(self, key: str) -> float:
        return self.chunks[key] / self.seconds[key]


async def _throughput(
    env: StackEnv,
    token: str,
    api_urls: dict[int, str],
    docs: list[NewDocument],
    profile: Profile,
    report: Report,
) -> dict[int, dict[str, list[float]]]:
    """Each document is embedded alone right before or after it is ingested (the order
    alternates), so both see the same moment of a shared, noisy machine; a measurement sums its
    documents, and the ratio of two rates compares the same texts at nearly the same time."""
    embedder = LocalEmbedder(BENCH_EMBEDDER)
    await embedder.load()
    caller = await TokenVerifier(audience="authenticated", secret=env.jwt_secret).verify(token)
    pools = {b: RestPool(settings_for(env, b)) for b in INGEST_BATCH_SIZES}
    keys = ("embed", "in_process", "embed_api_docs", "api")
    rates: dict[int, dict[str, list[float]]] = {
        b: {key: [] for key in keys} for b in INGEST_BATCH_SIZES
    }
    pending = iter(docs)
    timeout = aiohttp.ClientTimeout(total=600)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await _embed_alone(embedder, settings_for(env, 64), docs[0])  # warm the model
            for r in range(profile.repeats):
                sizes = INGEST_BATCH_SIZES[r % 3 :] + INGEST_BATCH_SIZES[: r % 3]
                for b in sizes:
                    report.progress(f"ingest: repeat {r + 1}, batch size {b}")
                    settings = settings_for(env, b)
                    knowledge = Knowledge(settings, pools[b], embedder)
                    tally = _Tally()
                    for i in range(profile.ingest_docs):
                        mine, theirs = next(pending), next(pending)
                        pairs = [
                            (
                                ("embed", _embed_alone(embedder, settings, mine)),
                                ("in_process", _ingest_in_process(knowledge, caller, mine)),
                            ),
                            (
                                ("embed_api_docs", _embed_alone(embedder, settings, theirs)),
                                ("api", _ingest_api(session, api_urls[b], token, theirs)),
                            ),
                        ]
                        for pair in pairs:
                            for key, work in pair if i % 2 == 0 else reversed(pair):
                                await tally.time(key, work)
                    for key in keys:
                        rates[b][key].append(tally.rate(key))
    finally:
        for pool in pools.values():
            await pool.aclose()
        await embedder.aclose()
    return rates


def measure_ingest(
    env: StackEnv, token: str, corpus: Corpus, profile: Profile, report: Report
) -> dict[str, Any]:
    docs = documents(corpus, 2 * profile.ingest_docs * profile.repeats * len(INGEST_BATCH_SIZES))
    with ExitStack() as stack:
        urls = {}
        for b in INGEST_BATCH_SIZES:
            report.progress(f"ingest: starting an API with EMBEDDING_BATCH_SIZE={b}")
            urls[b] = stack.enter_context(
                api_process(
                    env.edge_environment(),
                    {"EMBEDDING_BATCH_SIZE": str(b)},
                    report.out_dir / "logs" / f"api-batch-{b}.log",
                )
            ).url
        rates = asyncio.run(_throughput(env, token, urls, docs, profile, report))
    figures: dict[str, Any] = {"document_chars": DOCUMENT_CHARS, "batches": {}}
    for b, r in rates.items():
        figures["batches"][b] = {
            "embedder_chunks_per_s": spread(r["embed"]),
            "in_process_chunks_per_s": spread(r["in_process"]),
            "api_chunks_per_s": spread(r["api"]),
            "in_process_vs_embedder": spread(
                [ratio(a, e) for a, e in zip(r["in_process"], r["embed"], strict=True)]
            ),
            "api_vs_embedder": spread(
                [ratio(a, e) for a, e in zip(r["api"], r["embed_api_docs"], strict=True)]
            ),
        }
    figures["query_embedding"] = query_embedding_probe(corpus, profile, report)
    _print(report, figures, profile)
    return figures


def _print(report: Report, figures: dict[str, Any], profile: Profile) -> None:
    table = Table(
        f"4. Ingest throughput (chunks/s), {profile.ingest_docs} document(s) of "
        f"{DOCUMENT_CHARS:,} chars per measurement, one at a time",
        ["batch", "embedder alone", "CallerKnowledge", "vs embedder", "API POST", "vs embedder"],
    )
    for b, f in figures["batches"].items():
        table.add(
            b,
            fmt_spread(f["embedder_chunks_per_s"], 1),
            fmt_spread(f["in_process_chunks_per_s"], 1),
            fmt_spread(f["in_process_vs_embedder"]),
            fmt_spread(f["api_chunks_per_s"], 1),
            fmt_spread(f["api_vs_embedder"]),
        )
    table.notes += [
        "chunks of 1000 chars (the edge's CHUNK_SIZE default); median [min-max] over repeats; "
        "ratios on the same texts, each document embedded alone right before or after its ingest",
        "both ingest columns: stored, then embedded by the stack's worker (its batch size, 64) "
        "and waited for; the API is a process of its own; the embedder alone and "
        "CallerKnowledge run in this process",
    ]
    report.table(table)
    q = figures["query_embedding"]
    probe = Table(
        "4b. Query embedding latency, a ten-word query (all-MiniLM-L6-v2 on this CPU)",
        ["figure", "ms"],
    )
    probe.add("model load (new process), s", fmt_spread(q["load_s"]))
    probe.add("cold: first call after load", fmt_spread(q["cold_first_ms"]))
    warm: Any = q["warm_ms"]
    probe.add("warm: later calls, new query each, p50", warm.p50)
    probe.add("warm: p95", warm.p95)
    probe.add("warm: p99", warm.p99)
    probe.add("LRU cache hit (a repeated query)", fmt_spread(q["cache_hit_ms"], 4))
    probe.notes.append(f"warm: {warm.n} calls over {len(q['cold_first_ms'].values)} process(es)")
    report.table(probe)
