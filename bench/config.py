"""How big each part of a run is: `--quick` checks that everything works in a couple of minutes;
the full profile gives figures worth reading (see bench/README.md for the time each takes).
"""

from dataclasses import dataclass, replace

from knowledge_core.settings import EmbedderSettings

# The local model as the edge runs it (precision from LOCAL_EMBEDDING_PRECISION, default float32),
# with a timeout no benchmark batch reaches.
BENCH_EMBEDDER = EmbedderSettings(embedding_timeout_seconds=600)

# The shipped graphs' parameters (supabase/schemas/50_embedding_models.sql) are built last, so the
# sections after the build sweep (filtered search, retrieval quality) run on what production runs.
SHIPPED_HNSW = (16, 64)
BUILD_CONFIGS = ((16, 128), (32, 64), SHIPPED_HNSW)
# match_documents pins hnsw.ef_search = 100; the sweep shows what that choice buys.
SHIPPED_EF_SEARCH = 100
EF_SEARCH = (20, 40, 100, 200)
K = 10
OWNER_SHARES = (0.01, 0.10, 0.50)
CONCURRENCY = (1, 8, 32)
INGEST_BATCH_SIZES = (16, 64, 128)
# Chunking of the benchmark corpus. Docstrings and comments are short, so passages of ~300
# characters (about 60 tokens, a sentence or three) are both natural for them and what gives the
# standard library's text >= 20k passages. Ingest (section 4) uses the edge's own settings.
CORPUS_CHUNK_SIZE = 300
CORPUS_CHUNK_OVERLAP = 50


@dataclass(frozen=True)
class Profile:
    name: str
    corpus_chunks: int | None  # real passages to embed (None: the whole corpus)
    real_sizes: tuple[int | None, ...]  # index experiments on real vectors (None: all)
    synthetic_sizes: tuple[int, ...]  # ... and on clustered synthetic vectors
    queries: int  # held-out queries per dataset (section 1)
    exact_timing_queries: int  # exact scans are slow: timed on this many per repeat
    filtered_queries: int  # section 2, per owner
    repeats: int
    edge_rows: int  # passages of the benchmark user in the main database (section 3)
    edge_requests: int  # per path, per concurrency, per repeat
    edge_seconds: float  # cap on each of those loads
    ingest_docs: int  # documents per ingest measurement
    cold_probes: int  # fresh processes for the cold query-embedding figure
    warm_queries: int
    footprint_requests: int
    quality_queries: int
    sweep_rows: int  # section 7: the tenant sweep's table (1M with --million)
    sweep_queries: int
    embedder_queries: int  # section 8: fresh queries for all of a variant's loads
    embedder_passages: int  # ... 1,000-character passages for the ingest figure
    embedder_quality_passages: int  # ... corpus passages each variant embeds for quality
    embedder_quality_queries: int  # ... known-item queries over them
    embedder_scifact_docs: int | None  # ... SciFact abstracts (judged ones first; None: all)
    sweep_both_storages: bool = True  # section 7: also build the graph in the other storage
    keep_sweep: bool = False  # section 7: keep its database for the next run (and reuse one)
    keep_scifact: bool = False  # section 10: keep its collection for the next run (and reuse it)

    def with_million(self) -> "Profile":
        return replace(
            self, synthetic_sizes=(*self.synthetic_sizes, 1_000_000), sweep_rows=1_000_000
        )


QUICK = Profile(
    name="quick",
    corpus_chunks=2_400,
    real_sizes=(None,),
    synthetic_sizes=(10_000,),
    queries=40,
    exact_timing_queries=20,
    filtered_queries=20,
    repeats=2,
    edge_rows=500,
    edge_requests=60,
    edge_seconds=8.0,
    ingest_docs=1,
    cold_probes=1,
    warm_queries=10,
    footprint_requests=80,
    quality_queries=40,
    sweep_rows=20_000,
    sweep_queries=10,
    embedder_queries=600,
    embedder_passages=32,
    embedder_quality_passages=500,
    embedder_quality_queries=60,
    embedder_scifact_docs=1_200,
)

FULL = Profile(
    name="full",
    corpus_chunks=None,
    real_sizes=(10_000, None),
    synthetic_sizes=(10_000, 100_000),
    queries=200,
    exact_timing_queries=50,
    filtered_queries=100,
    repeats=3,
    edge_rows=3_000,
    edge_requests=400,
    edge_seconds=20.0,
    ingest_docs=4,
    cold_probes=3,
    warm_queries=50,
    footprint_requests=600,
    quality_queries=300,
    sweep_rows=200_000,
    sweep_queries=40,
    embedder_queries=3_000,
    embedder_passages=192,
    embedder_quality_passages=3_000,
    embedder_quality_queries=300,
    embedder_scifact_docs=None,
)
