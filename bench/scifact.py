"""BEIR SciFact (train split) read from the shared data folder, and its measures.

The data is not part of the repository (CC BY-NC 2.0: test data only): `KB_BENCH_SCIFACT_DIR`, by
default `../shared/data/scifact` beside the checkout, holds `corpus.jsonl`, `queries.jsonl` (the
809 train claims) and `qrels/train.tsv`.

Measures are BEIR's (pytrec_eval's), computed here over the ranked list of distinct documents:
nDCG@10 with the judgement's score as gain and log2(rank + 1) as discount, normalised by the
ideal ordering of the query's judged documents; recall@k is the share of a query's relevant
documents in its first k. Both are averaged over every query with a judgement (a query that
finds nothing scores 0).
"""

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from local_stack.settings import REPO_ROOT

DEFAULT_DIR = REPO_ROOT.parent / "shared" / "data" / "scifact"


@dataclass(frozen=True)
class Abstract:
    corpus_id: str
    title: str
    text: str


@dataclass(frozen=True)
class SciFact:
    corpus: list[Abstract]
    queries: dict[str, str]  # claim id -> text, only claims with a judgement
    qrels: dict[str, dict[str, int]]  # claim id -> {corpus id: score}


def data_dir() -> Path:
    return Path(os.environ.get("KB_BENCH_SCIFACT_DIR", DEFAULT_DIR))


def load_scifact(folder: Path | None = None) -> SciFact:
    folder = folder or data_dir()
    if not (folder / "corpus.jsonl").is_file():
        raise FileNotFoundError(
            f"SciFact is not in {folder} (set KB_BENCH_SCIFACT_DIR to the folder holding "
            "corpus.jsonl, queries.jsonl and qrels/train.tsv)"
        )
    with (folder / "corpus.jsonl").open() as lines:
        corpus = [
            Abstract(str(row["_id"]), row["title"].strip(), row["text"].strip())
            for row in map(json.loads, lines)
        ]
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / "train.tsv").open() as table:
        for row in csv.DictReader(table, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    with (folder / "queries.jsonl").open() as lines:
        queries = {
            str(row["_id"]): row["text"] for row in map(json.loads, lines) if row["_id"] in qrels
        }
    return SciFact(corpus, queries, qrels)


def distinct(ranked: Sequence[str]) -> list[str]:
    """Documents in the order of their best passage: each counts once, at its first rank."""
    return list(dict.fromkeys(ranked))


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(
        judged.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1)
    )
    ideal = sorted(judged.values(), reverse=True)[:k]
    best = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, start=1))
    return dcg / best if best else 0.0


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {doc for doc, score in judged.items() if score > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def measures(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """nDCG@10, recall@10 and recall@100 averaged over the judged queries."""
    judged = [q for q in qrels if q in rankings]
    n = len(judged)
    return {
        "ndcg_at_10": sum(ndcg_at(distinct(rankings[q]), qrels[q]) for q in judged) / n,
        "recall_at_10": sum(recall_at(distinct(rankings[q]), qrels[q], 10) for q in judged) / n,
        "recall_at_100": sum(recall_at(distinct(rankings[q]), qrels[q], 100) for q in judged) / n,
    }
