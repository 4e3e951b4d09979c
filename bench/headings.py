"""Do heading-aware passages find things better? A known-item test on real Markdown.

`python -m bench.headings` (local model; no database: exact cosine ranking in numpy, which is
what match_documents returns for a caller below the exact-scan switch point).

Section 6's corpus is standard-library docstrings, stored as plain text: it has no headings,
so heading-aware chunking cannot change it. This runs section 6's known-item method (a sentence
of a document is the query; the passages holding it are the answer) on Markdown with headings
found on the machine (Node.js's and npm's documentation), chunked three ways:

  plain     today's JSON ingest: chunk_text over the whole file (headings inline as text)
  sections  cut at headings (markdown-it), heading path in metadata only
  prefixed  cut at headings, each passage opened by its heading path (the upload default)

and a second query set closer to how people ask about a manual: the innermost heading of a
section (e.g. "Rotating keys") as the query, any passage holding that section's text as the
answer.
"""

import argparse
import asyncio
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.config import BENCH_EMBEDDER
from bench.s6_quality import _good_sentence
from knowledge_core.chunking import chunk_sections, chunk_text
from knowledge_core.embeddings.local import LocalEmbedder
from knowledge_core.extraction.markdown import extract_markdown

CORPUS_GLOBS = (
    "/usr/share/doc/nodejs/api/*.md",
    "/usr/lib/node_modules/npm/docs/content/commands/*.md",
    "/usr/lib/node_modules/npm/docs/content/using-npm/*.md",
    "/usr/lib/node_modules/npm/docs/content/configuring-npm/*.md",
)
SIZE, OVERLAP = 1000, 150
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
Strategy = Callable[[str], list[str]]


def _norm(text: str) -> str:
    return " ".join(text.split())


def strategies() -> dict[str, Strategy]:
    def plain(text: str) -> list[str]:
        return chunk_text(text, size=SIZE, overlap=OVERLAP, max_chars=10**7)

    def sections(prefix: bool) -> Strategy:
        def run(text: str) -> list[str]:
            extracted = extract_markdown(text)
            passages = chunk_sections(
                extracted.sections,
                size=SIZE,
                overlap=OVERLAP,
                max_chars=10**7,
                heading_prefix=prefix,
            )
            return [p.content for p in passages]

        return run

    return {"plain": plain, "sections": sections(False), "prefixed": sections(True)}


def corpus(max_chars: int, limit: int) -> list[str]:
    files = sorted({p for g in CORPUS_GLOBS for p in Path("/").glob(g.lstrip("/"))})
    texts = [p.read_text(errors="replace") for p in files]
    return [t for t in texts if 2_000 <= len(t) <= max_chars][:limit]


def metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    def hit(k: int) -> float:
        return float(np.mean([r is not None and r < k for r in ranks]))

    mrr = float(np.mean([1 / (r + 1) if r is not None and r < 10 else 0.0 for r in ranks]))
    return {"hit@1": hit(1), "hit@10": hit(10), "mrr@10": mrr}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100)
    parser.add_argument("--max-chars", type=int, default=40_000)
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    docs = corpus(args.max_chars, args.docs)
    embedder = LocalEmbedder(BENCH_EMBEDDER)
    await embedder.load()
    rng = np.random.default_rng(6)

    # Known items from the source text: sentences, and (heading, section text) pairs.
    sentences: list[tuple[str, int]] = []
    headed: list[tuple[str, list[str], int]] = []
    for d, text in enumerate(docs):
        for section in extract_markdown(text).sections:
            body = _norm(section.text)
            good = [s for s in _SENTENCE.split(body) if _good_sentence(s) and "`" not in s]
            sentences += [(s, d) for s in good]
            if section.headings and good:
                headed.append((section.headings[-1], good, d))
    rng.shuffle(sentences)
    rng.shuffle(headed)

    chunked = {
        name: [(d, run(t)) for d, t in enumerate(docs)] for name, run in strategies().items()
    }

    # Fair items only: a sentence every strategy keeps whole in some passage.
    def holders(name: str, sentence: str) -> set[int]:
        return {i for i, (_, text) in enumerate(flat[name]) if sentence in _norm(text)}

    flat = {n: [(d, p) for d, ps in c for p in ps] for n, c in chunked.items()}
    items = [s for s, _ in sentences if all(holders(n, s) for n in flat)][: args.queries]
    topics = [(h, good) for h, good, _ in headed if all(holders(n, good[0]) for n in flat)][
        : args.queries
    ]
    print(
        f"{len(docs)} documents; passages: " + ", ".join(f"{n} {len(f)}" for n, f in flat.items())
    )
    print(f"{len(items)} sentence queries, {len(topics)} heading queries")

    async def embed(texts: list[str]) -> np.ndarray:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), 64):
            vectors += await embedder.embed(texts[start : start + 64])
        return np.array(vectors)

    query_vectors = await embed([s for s in items] + [h for h, _ in topics])
    sentence_vectors, topic_vectors = query_vectors[: len(items)], query_vectors[len(items) :]
    for name, passages in flat.items():
        vectors = await embed([p for _, p in passages])
        results = []
        for queries, answers in (
            (sentence_vectors, [holders(name, s) for s in items]),
            (topic_vectors, [set().union(*(holders(name, g) for g in good)) for _, good in topics]),
        ):
            order = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
            ranks = [
                next((r for r, row in enumerate(top) if int(row) in answer), None)
                for top, answer in zip(order, answers, strict=True)
            ]
            results.append(metrics(ranks))
        print(
            f"{name:9s} sentences: "
            + " ".join(f"{k} {v:.3f}" for k, v in results[0].items())
            + " | headings: "
            + " ".join(f"{k} {v:.3f}" for k, v in results[1].items())
        )
    await embedder.aclose()


if __name__ == "__main__":
    asyncio.run(main())
