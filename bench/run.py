"""One benchmark run: which sections, in which order, on what data; failures are reported and
the run goes on, so one broken section does not cost the figures of the others."""

import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench.benchdb import build_hnsw, create_owners, kept_database, load_rows, scratch_database
from bench.config import OWNER_SHARES, SHIPPED_HNSW, Profile
from bench.corpus import Corpus, passage_embeddings
from bench.datasets import Dataset, real_datasets, synthetic_dataset
from bench.env import StackEnv, bench_user
from bench.report import Report
from bench.s1_index import measure_index
from bench.s2_filtered import measure_filtered
from bench.s3_edge import measure_edge
from bench.s4_ingest import measure_ingest
from bench.s5_footprint import measure_footprint
from bench.s6_quality import measure_quality
from bench.s7_tenants import measure_tenants
from bench.s8_embedder import measure_embedder
from bench.s9_replicas import measure_capacity, measure_replicas
from bench.s10_scifact import measure_scifact

DATABASE_SECTIONS = {1, 2, 6}
# Sections that need the real corpus embedded (minutes the first time; cached after).
EMBEDDING_SECTIONS = {1, 2, 3, 6}
NAMES = {
    1: "1_index",
    2: "2_filtered",
    3: "3_edge",
    4: "4_ingest",
    5: "5_footprint",
    6: "6_quality",
    7: "7_tenants",
    8: "8_embedder",
    9: "9_replicas",
    10: "10_scifact",
}
# Sections that also answer to a name on the command line (`--only quality`).
ALIASES = {"quality": 10, "scifact": 10}


class Runner:
    def __init__(
        self,
        env: StackEnv,
        profile: Profile,
        sections: set[int],
        report: Report,
        corpus: Corpus,
        cache_dir: Path,
    ) -> None:
        self.env = env
        self.cache_dir = cache_dir
        self.profile = profile
        self.sections = sections
        self.report = report
        self.corpus = corpus
        self.failures: list[str] = []
        self.embeddings = np.zeros((0, 384), dtype=np.float32)

    def guarded(self, what: str, step: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            step()
        except Exception as error:  # reported below and in the JSON; the run goes on
            self.failures.append(f"{what}: {type(error).__name__}: {error}")
            self.report.say(f"\n!! {what} failed: {type(error).__name__}: {error}")
            traceback.print_exc()
        finally:
            self.report.data.setdefault("durations_s", {})[what] = time.monotonic() - started

    def run(self) -> None:
        count = self.profile.corpus_chunks or len(self.corpus.passages)
        if self.sections & EMBEDDING_SECTIONS:
            self.embeddings = passage_embeddings(
                self.corpus,
                min(count, len(self.corpus.passages)),
                self.cache_dir,
                self.report.progress,
            )
        self.report.data["corpus"] = {
            "source": "docstrings and comments of the Python standard library (ast, tokenize)",
            "passages_total": len(self.corpus.passages),
            "passages_embedded": len(self.embeddings),
            "fingerprint": self.corpus.fingerprint,
        }
        if self.sections & DATABASE_SECTIONS:
            self.guarded("scratch database sections (1, 2, 6)", self.database_sections)
        if 7 in self.sections:
            self.guarded("section 7 (tenant sweep and scale)", self.tenant_sweep)
        if 8 in self.sections:
            self.guarded(
                "section 8 (embedder)",
                lambda: self.report.section(
                    NAMES[8],
                    measure_embedder(self.env, self.corpus, self.profile, self.report),
                ),
            )
        if 9 in self.sections:
            self.guarded(
                "section 9 (read replicas)",
                lambda: self.report.section(
                    NAMES[9],
                    {
                        "replicas": measure_replicas(self.profile, self.report),
                        "capacity": measure_capacity(self.env, self.profile, self.report),
                    },
                ),
            )
        if 10 in self.sections:
            self.guarded(
                "section 10 (SciFact retrieval quality)",
                lambda: self.report.section(
                    NAMES[10],
                    measure_scifact(
                        self.env,
                        self.report,
                        repeats=self.profile.repeats,
                        keep=self.profile.keep_scifact,
                    ),
                ),
            )
        needs_user = self.sections & {3, 4, 5}
        if needs_user:
            with bench_user(self.env.stack, "edge") as user:
                token = self.env.stack.access_token(user, expires_in=4 * 3600)
                if 3 in self.sections:
                    self.guarded(
                        "section 3 (edge overhead)",
                        lambda: self.report.section(
                            NAMES[3],
                            measure_edge(
                                self.env,
                                user,
                                token,
                                self.corpus,
                                self.embeddings,
                                self.profile,
                                self.report,
                            ),
                        ),
                    )
                if 4 in self.sections:
                    self.guarded(
                        "section 4 (ingest)",
                        lambda: self.report.section(
                            NAMES[4],
                            measure_ingest(self.env, token, self.corpus, self.profile, self.report),
                        ),
                    )
                if 5 in self.sections:
                    self.guarded(
                        "section 5 (footprint)",
                        lambda: self.report.section(
                            NAMES[5],
                            measure_footprint(
                                self.env, token, self.corpus, self.profile, self.report
                            ),
                        ),
                    )

    def tenant_sweep(self) -> None:
        """A scratch database of its own: its table is laid out per tenant, not per share. With
        `keep_sweep`, one that outlives the run, reused by the next (same size)."""
        progress = self.report.progress
        if self.profile.keep_sweep:
            label = f"sweep_{self.profile.sweep_rows}"
            with (
                kept_database(self.env, label, progress) as (url, _),
                psycopg.connect(url, autocommit=True) as db,
            ):
                figures = measure_tenants(db, url, self.profile, self.report, keep=True)
        else:
            with (
                scratch_database(self.env, progress) as url,
                psycopg.connect(url, autocommit=True) as db,
            ):
                figures = measure_tenants(db, url, self.profile, self.report)
        self.report.section(NAMES[7], figures)

    def datasets(self) -> Iterator[Dataset]:
        """Real first (section 6 needs the largest real one), then synthetic, made lazily: a
        million 384-d vectors are 1.5 GB."""
        yield from real_datasets(self.corpus, self.embeddings, self.profile)
        for n in self.profile.synthetic_sizes:
            yield synthetic_dataset(n, self.profile.queries)

    def database_sections(self) -> None:
        index: dict[str, Any] = {}
        filtered: dict[str, Any] = {}
        largest_real = max(
            (d.size for d in real_datasets(self.corpus, self.embeddings, self.profile)), default=0
        )
        if 1000000 not in self.profile.synthetic_sizes:
            self.report.say(
                "\n1M rows: skipped (pass --million for the 1M synthetic data set; it needs "
                "~10 GB of disk and tens of minutes)"
            )
            self.report.data["million"] = "skipped (no --million)"
        with (
            scratch_database(self.env, self.report.progress) as url,
            psycopg.connect(url, autocommit=True) as db,
        ):
            owners = create_owners(db, OWNER_SHARES)
            for dataset in self.datasets():
                self.report.progress(f"{dataset.name}: loading {dataset.size:,} rows")
                started = time.monotonic()
                assigned = load_rows(
                    db,
                    owners,
                    dataset.contents,
                    dataset.vectors,
                    model=dataset.model,
                    seed=dataset.size,
                )
                self.report.data.setdefault("load_seconds", {})[dataset.name] = (
                    time.monotonic() - started
                )
                counts = [int(c) for c in np.bincount(assigned, minlength=len(owners))]
                if 1 in self.sections:
                    index[dataset.name] = measure_index(db, url, dataset, self.profile, self.report)
                    self.report.section(NAMES[1], index)
                else:
                    build_hnsw(db, *SHIPPED_HNSW)
                if 2 in self.sections:
                    filtered[dataset.name] = measure_filtered(
                        db, dataset, owners, counts, self.profile, self.report
                    )
                    self.report.section(NAMES[2], filtered)
                if 6 in self.sections and dataset.kind == "real" and dataset.size == largest_real:
                    self.report.section(
                        NAMES[6], measure_quality(db, dataset, self.profile, self.report)
                    )


def profile_dict(profile: Profile) -> dict[str, Any]:
    return asdict(profile)
