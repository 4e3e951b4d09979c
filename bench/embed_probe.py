"""`python -m bench.embed_probe`: query-embedding latency in a fresh process (section 4).

"Cold" means the first call after the model is loaded, which only a new process can show: the
benchmark's own process has long warmed its model. Reads ten-word queries (JSON list) on stdin,
prints one JSON object: model load time, first call, later calls (uncached, each a new query),
and an LRU cache hit as the edge serves a repeated query.
"""

import asyncio
import json
import sys
import time

from bench.config import BENCH_EMBEDDER
from knowledge_core.embeddings import QueryEmbeddingCache
from knowledge_core.embeddings.local import LocalEmbedder


async def probe(queries: list[str]) -> dict[str, object]:
    embedder = LocalEmbedder(BENCH_EMBEDDER)
    started = time.perf_counter()
    await embedder.load()
    load_s = time.perf_counter() - started
    timings = []
    for query in queries:
        t0 = time.perf_counter()
        await embedder.embed([query])
        timings.append((time.perf_counter() - t0) * 1000)
    cache = QueryEmbeddingCache(embedder)
    await cache.embed_query(queries[0])
    t0 = time.perf_counter()
    await cache.embed_query(queries[0])
    hit_ms = (time.perf_counter() - t0) * 1000
    await embedder.aclose()
    return {
        "load_s": load_s,
        "first_ms": timings[0],
        "warm_ms": timings[1:],
        "cache_hit_ms": hit_ms,
    }


def main() -> None:
    queries = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(probe(queries))))


if __name__ == "__main__":
    main()
