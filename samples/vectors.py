"""Synthetic vectors for the database: tests and the benchmark fill tables with them.

Both may import this package (samples/); neither imports the other.
"""

import numpy as np
import psycopg

DIM = 384


def unit_vector(rng: np.random.Generator) -> list[float]:
    v = rng.standard_normal(DIM)
    return [float(x) for x in v / np.linalg.norm(v)]


def vector_literal(v: "list[float] | np.ndarray") -> str:
    return "[" + ",".join(f"{x:.7f}" for x in v) + "]"


def with_similarity(rng: np.random.Generator, query: list[float], similarity: float) -> list[float]:
    """A unit vector whose cosine similarity to `query` is exactly `similarity`."""
    q = np.array(query)
    r = rng.standard_normal(DIM)
    r -= (r @ q) * q
    r /= np.linalg.norm(r)
    v = similarity * q + np.sqrt(1 - similarity**2) * r
    return [float(x) for x in v]


class EmbeddingLike:
    """Vectors with the structure of real embeddings: a low-dimensional latent space plus noise.

    Uniform random 384-d vectors are all nearly equidistant, which no nearest-neighbour index
    (or user) meets in practice; these have graded neighbourhoods like text embeddings do.
    """

    def __init__(self, rng: np.random.Generator, latent_dims: int = 24, noise: float = 0.5):
        self.rng = rng
        self.mixing = rng.standard_normal((latent_dims, DIM))
        self.noise = noise

    def sample(self, n: int) -> np.ndarray:
        v = self.rng.standard_normal((n, self.mixing.shape[0])) @ self.mixing
        v += self.noise * self.rng.standard_normal((n, DIM))
        normalized: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
        return normalized


def copy_chunks(db_url: str, document: str, vectors: np.ndarray, first_index: int = 0) -> None:
    """Bulk-insert chunks with COPY (the triggers still fill in their scope)."""
    with (
        psycopg.connect(db_url, autocommit=True) as db,
        db.cursor().copy(
            "copy public.document_chunks (document_id, chunk_index, content, embedding) from stdin"
        ) as copy,
    ):
        for i, v in enumerate(vectors, start=first_index):
            copy.write_row((document, i, f"synthetic passage {i}", vector_literal(v)))
