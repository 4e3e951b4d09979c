"""SciFact (BEIR), the train split: corpus, claims, judgements, and nDCG@10 as BEIR computes it.

The data stays outside the repository (its licence: test data only): `KB_BENCH_SCIFACT_DIR`,
default `../shared/data/scifact` beside the checkout. Only the train claims are there; tune on
them, and say so beside every figure.
"""

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def scifact_dir() -> Path:
    return Path(os.environ.get("KB_BENCH_SCIFACT_DIR") or REPO_ROOT.parent / "shared/data/scifact")


@dataclass(frozen=True)
class SciFact:
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    claims: dict[str, str]  # query id -> claim, the train claims with a judgement
    relevant: dict[str, set[str]]  # query id -> relevant document ids

    def document(self, index: int) -> str:
        """What a whole-abstract ranking embeds: title and text, as BEIR's dense baselines do."""
        return f"{self.titles[index]}\n\n{self.texts[index]}"


@cache
def load_scifact() -> SciFact:
    folder = scifact_dir()
    if not (folder / "corpus.jsonl").exists():
        raise FileNotFoundError(f"SciFact not found in {folder}: set KB_BENCH_SCIFACT_DIR")
    doc_ids, titles, texts = [], [], []
    for line in (folder / "corpus.jsonl").read_text().splitlines():
        row = json.loads(line)
        doc_ids.append(str(row["_id"]))
        titles.append(row["title"])
        texts.append(row["text"])
    relevant: dict[str, set[str]] = {}
    for line in (folder / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    claims = {}
    for line in (folder / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        if str(row["_id"]) in relevant:
            claims[str(row["_id"])] = row["text"]
    return SciFact(doc_ids, titles, texts, claims, relevant)


def ndcg_at_10(ranked: Sequence[str], relevant: set[str]) -> float:
    """Binary-relevance nDCG@10 over distinct documents (a repeat counts at its first rank)."""
    seen: list[str] = []
    for doc in ranked:
        if doc not in seen:
            seen.append(doc)
        if len(seen) == 10:
            break
    dcg = sum(1 / math.log2(rank + 2) for rank, doc in enumerate(seen) if doc in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), 10)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    distinct = list(dict.fromkeys(ranked))[:k]
    return len(relevant.intersection(distinct)) / len(relevant) if relevant else 0.0


def mean(values: Mapping[str, float] | Sequence[float]) -> float:
    items = list(values.values()) if isinstance(values, Mapping) else list(values)
    return sum(items) / len(items) if items else 0.0


def measures(data: SciFact, rankings: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """nDCG@10, recall@10 and recall@100 over distinct documents, averaged over every judged
    claim (a claim with no ranking, or one that finds nothing, scores 0)."""
    claims = list(data.claims)
    return {
        "ndcg_at_10": mean([ndcg_at_10(rankings.get(q, []), data.relevant[q]) for q in claims]),
        **{
            f"recall_at_{k}": mean(
                [recall_at(rankings.get(q, []), data.relevant[q], k) for q in claims]
            )
            for k in (10, 100)
        },
    }
