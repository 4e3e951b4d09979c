"""hybrid_search's fusions, computed here: the truth a benchmark compares hybrid_search with.

Each takes the two ranked candidate lists, (id, score) best first, as hybrid_search's sides
bring them (supabase/schemas/75_hybrid_search.sql states both).
"""

from collections.abc import Sequence

Ranked = Sequence[tuple[int, float]]


def _scaled(ranked: Ranked) -> dict[int, float]:
    """Min-max over the list; a list of equal scores scales to 1."""
    if not ranked:
        return {}
    top, low = max(s for _, s in ranked), min(s for _, s in ranked)
    return {i: (s - low) / (top - low) if top > low else 1.0 for i, s in ranked}


def relative_score(
    keyword: Ranked, semantic: Ranked, keyword_weight: float = 1.0, semantic_weight: float = 1.0
) -> list[tuple[int, float]]:
    """Each side's scores scaled to 0..1, weighted, summed, divided by the weights' sum."""
    k, s = _scaled(keyword), _scaled(semantic)
    total = keyword_weight + semantic_weight
    fused = {
        i: (keyword_weight * k.get(i, 0.0) + semantic_weight * s.get(i, 0.0)) / total
        for i in k.keys() | s.keys()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def rrf(keyword: Ranked, semantic: Ranked, k: int = 50) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: 1 / (k + rank) from each list, summed."""
    fused: dict[int, float] = {}
    for ranked in (keyword, semantic):
        for rank, (i, _) in enumerate(ranked, start=1):
            fused[i] = fused.get(i, 0.0) + 1 / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
