"""The vectors the index experiments run on, each labelled real or synthetic.

Real: embeddings of the stdlib corpus (bench/corpus.py); the queries are held-out passages of the
same corpus, never in the table. Synthetic: clustered vectors from samples/vectors.py's
EmbeddingLike (a low-dimensional latent space plus noise, like text embeddings), used where the
corpus is too small (100k, 1M); the queries are fresh draws from the same distribution.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.config import Profile
from bench.corpus import Corpus
from knowledge_core.embeddings.base import LOCAL_MODEL as MODEL_NAME
from samples.vectors import EmbeddingLike

SYNTHETIC_SEED = 1126
SYNTHETIC_MODEL = "synthetic-embedding-like"
_BLOCK = 100_000


@dataclass(frozen=True)
class Dataset:
    name: str  # e.g. "real-10k", "synthetic-100k"
    kind: str  # "real" or "synthetic": printed in every table
    vectors: np.ndarray  # float32 unit vectors, one row per table row
    contents: Sequence[str]
    queries: np.ndarray
    model: str

    @property
    def size(self) -> int:
        return len(self.vectors)


def count_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000:
        return f"{n / 1000:.0f}k" if n % 1000 == 0 else f"{n / 1000:.1f}k"
    return str(n)


def real_datasets(corpus: Corpus, embeddings: np.ndarray, profile: Profile) -> list[Dataset]:
    queries = embeddings[-profile.queries :]
    pool = embeddings[: -profile.queries]
    datasets = []
    for size in profile.real_sizes:
        n = len(pool) if size is None else min(size, len(pool))
        datasets.append(
            Dataset(
                name=f"real-{count_label(n)}",
                kind="real",
                vectors=pool[:n],
                contents=corpus.passages[:n],
                queries=queries,
                model=MODEL_NAME,
            )
        )
    return datasets


class _StreamContents(Sequence[str]):
    """`synthetic passage i` for any i, without holding a million strings."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        if not 0 <= index < self.n:
            raise IndexError(index)
        return f"synthetic passage {index}"


def synthetic_dataset(n: int, queries: int) -> Dataset:
    generator = EmbeddingLike(np.random.default_rng(SYNTHETIC_SEED))
    blocks = [
        generator.sample(min(_BLOCK, n - start)).astype(np.float32) for start in range(0, n, _BLOCK)
    ]
    return Dataset(
        name=f"synthetic-{count_label(n)}",
        kind="synthetic",
        vectors=np.concatenate(blocks),
        contents=_StreamContents(n),
        queries=generator.sample(queries).astype(np.float32),
        model=SYNTHETIC_MODEL,
    )
