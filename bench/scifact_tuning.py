"""`python -m bench.scifact_tuning`: how BM25's k1 and b and the fusion were chosen, on train.

Standalone (needs section 10's kept SciFact collection). Reads, as the collection's owner, each
train claim's keyword ranking (private.keyword_ranking_in, top 1,000 passages with scores, for a
grid of k1 and b) and semantic ranking (match_documents, top 1,000), then scores in Python what
hybrid_search would return under each fusion and depth: documents by best passage, nDCG@10,
recall@10, recall@100 (bench/scifact.py). Only the train split is used: the test split is held
back for checking. Takes ~5 minutes on 2 cores.
"""

import asyncio
import json
from collections.abc import Callable
from functools import partial

import psycopg

from bench.config import BENCH_EMBEDDER
from bench.env import discover
from bench.fusion import Ranked, relative_score, rrf
from bench.s10_scifact import kept_user
from bench.scifact import SciFact, load_scifact, measures
from bench.vectors import literal
from knowledge_core.embeddings.local import LocalEmbedder

DEPTH = 1000
K1 = (0.6, 0.9, 1.2, 1.5, 2.0)
B = (0.3, 0.5, 0.75, 0.9)
SHIPPED = (1.2, 0.75)  # private.keyword_ranking_in's defaults
CANDIDATES = (20, 50, 100, 200, 1000)
RRF_K = (10, 30, 50, 60)


def keyword_rankings(
    db: psycopg.Connection, cells: list[int], data: SciFact, k1: float, b: float
) -> dict[str, Ranked]:
    return {
        q: [
            (int(i), float(s))
            for i, s in db.execute(
                "select id, score from private.keyword_ranking_in(%s, %s, '{}', null, null, "
                "null, %s, %s, %s)",
                (cells, text, DEPTH, k1, b),
            ).fetchall()
        ]
        for q, text in data.claims.items()
    }


def semantic_rankings(db: psycopg.Connection, user_id: str, data: SciFact) -> dict[str, Ranked]:
    async def embed() -> list[list[float]]:
        embedder = LocalEmbedder(BENCH_EMBEDDER)
        try:
            return await embedder.embed(list(data.claims.values()), kind="query")
        finally:
            await embedder.aclose()

    out: dict[str, Ranked] = {}
    claims = json.dumps({"sub": user_id, "role": "authenticated"})
    for q, vector in zip(data.claims, asyncio.run(embed()), strict=True):
        with db.transaction():
            db.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            db.execute("set local role authenticated")
            out[q] = [
                (int(i), float(s))
                for i, s in db.execute(
                    "select id, similarity from public.match_documents(%s::extensions.vector, %s)",
                    (literal(vector), DEPTH),
                ).fetchall()
            ]
    return out


def main() -> None:
    env = discover(need_api=False, log=print)
    data = load_scifact()
    user = kept_user(env)
    with psycopg.connect(env.db_url, autocommit=True) as db:
        corpus_id = {
            int(i): str(c)
            for i, c in db.execute(
                "select c.id, d.metadata ->> 'corpus_id' from public.document_chunks c "
                "join public.documents d on d.id = c.document_id where c.owner_id = %s",
                (user.id,),
            ).fetchall()
        }
        cells = [
            int(r[0])
            for r in db.execute(
                "select id from private.keyword_cells where owner_id = %s", (user.id,)
            ).fetchall()
        ]
        if not corpus_id:
            raise SystemExit("no SciFact collection: run `python -m bench --only quality` first")

        def report(name: str, ranked: dict[str, Ranked]) -> None:
            figures = measures(data, {q: [corpus_id[i] for i, _ in r] for q, r in ranked.items()})
            print(
                f"{name:<52} nDCG@10 {figures['ndcg_at_10']:.4f}  "
                f"R@10 {figures['recall_at_10']:.4f}  R@100 {figures['recall_at_100']:.4f}",
                flush=True,
            )

        keyword = {}
        for k1 in K1:
            for b in B:
                keyword[(k1, b)] = keyword_rankings(db, cells, data, k1, b)
                report(f"keyword k1 {k1} b {b}", keyword[(k1, b)])
        semantic = semantic_rankings(db, user.id, data)
    report("semantic", semantic)
    bm25 = keyword[SHIPPED]

    def fused(
        fuse: Callable[[Ranked, Ranked], list[tuple[int, float]]], depth: int
    ) -> dict[str, Ranked]:
        return {q: fuse(bm25[q][:depth], semantic[q][:depth]) for q in data.claims}

    for depth in CANDIDATES:
        for k in RRF_K:
            report(f"rrf k {k}, {depth} candidates", fused(partial(rrf, k=k), depth))
        for weight in (0.7, 1.0, 1.5):
            report(
                f"relative score, keyword weight {weight}, {depth} candidates",
                fused(partial(relative_score, keyword_weight=weight), depth),
            )


if __name__ == "__main__":
    main()
