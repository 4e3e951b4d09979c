"""BM25 computed here, independently of the database's implementation, to check it against.

Only the words come from Postgres (its 'english' text search configuration: the stemmer and stop
words are Postgres' own and not worth re-implementing): the title's and the passage's tsvectors
as text, parsed here. Everything else is computed here from the rows the caller may read (read as
the caller, so RLS picks them): which passages hold a word, the statistics, the formula, the
order. The formula is the one supabase/schemas/62_keyword_index.sql states:

    score(p) = sum over distinct query words t in p of
               idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(p) / avglen))
    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

N, avglen and df over the caller's passages that hold at least one word.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg

K1 = 1.2
B = 0.75

# One lexeme of a tsvector's text form: 'word':1,4B (quotes doubled inside; weights after digits).
_LEXEME = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")


def words_of(tsvector_text: str) -> Counter[str]:
    """Each lexeme of a tsvector (as text) with its number of positions."""
    counts: Counter[str] = Counter()
    for lexeme, positions in _LEXEME.findall(tsvector_text):
        counts[lexeme.replace("''", "'")] += len(positions.split(",")) if positions else 1
    return counts


@dataclass(frozen=True)
class Passage:
    id: int
    document_id: str
    words: Counter[str]

    @property
    def length(self) -> int:
        return sum(self.words.values())


def as_caller(db: psycopg.Connection, claims: Mapping[str, object] | None) -> None:
    """What PostgREST does with a verified token, inside a transaction (None: no token)."""
    if claims is not None:
        db.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
    db.execute("set local role authenticated")


def readable_passages(
    db: psycopg.Connection, claims: Mapping[str, object] | None, model: str | None = None
) -> list[Passage]:
    """Every passage RLS lets the caller read (of `model`, if given), with its words."""
    with db.transaction():
        as_caller(db, claims)
        rows = db.execute(
            "select c.id, c.document_id::text, to_tsvector('english', d.title)::text, "
            "to_tsvector('english', c.content)::text "
            "from public.document_chunks c join public.documents d on d.id = c.document_id "
            "where %(model)s::text is null or c.embedding_model = %(model)s",
            {"model": model},
        ).fetchall()
    return [
        Passage(int(i), str(doc), words_of(str(title)) + words_of(str(text)))
        for i, doc, title, text in rows
    ]


def query_words(db: psycopg.Connection, query: str) -> set[str]:
    row = db.execute("select to_tsvector('english', %s)::text", (query,)).fetchone()
    assert row is not None
    return set(words_of(str(row[0])))


def bm25(
    passages: Sequence[Passage], words: set[str], k1: float = K1, b: float = B
) -> list[tuple[int, float]]:
    """(passage id, score) of every passage holding a query word, best first, ties by id;
    the statistics over `passages` (those holding at least one word)."""
    counted = [p for p in passages if p.words]
    if not counted:
        return []
    avglen = sum(p.length for p in counted) / len(counted)
    return scores(counted, words, len(counted), avglen, k1, b)


def scores(
    passages: Sequence[Passage],
    words: set[str],
    n: int,
    avglen: float,
    k1: float = K1,
    b: float = B,
) -> list[tuple[int, float]]:
    """The same with N and avglen given: `passages` must hold every one of the collection's
    passages that holds a query word (df is counted from them); others are ignored."""
    df = {t: sum(1 for p in passages if t in p.words) for t in words}
    ranked = []
    for p in passages:
        held = [t for t in words if t in p.words]
        if not held:
            continue
        score = 0.0
        for t in held:
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            tf = p.words[t]
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * p.length / avglen))
        ranked.append((p.id, score))
    return sorted(ranked, key=lambda item: (-item[1], item[0]))
