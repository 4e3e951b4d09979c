"""Chunking: passages within the size, split on paragraphs then sentences then words, with
whole-sentence overlap, and nothing of the text lost."""

import itertools

import pytest

from knowledge_core.chunking import chunk_text
from knowledge_core.errors import InvalidInput, PayloadTooLarge

SENTENCES = [f"Sentence number {i} says something specific about topic {i % 7}." for i in range(60)]


def chunks(text: str, size: int = 300, overlap: int = 80) -> list[str]:
    return chunk_text(text, size=size, overlap=overlap, max_chars=1_000_000)


def test_every_passage_fits_and_every_sentence_survives() -> None:
    text = "\n\n".join(" ".join(SENTENCES[i : i + 5]) for i in range(0, 60, 5))
    passages = chunks(text)
    assert all(len(p) <= 300 for p in passages)
    joined = " ".join(passages)
    assert all(sentence in joined for sentence in SENTENCES)


def test_consecutive_passages_share_whole_sentences() -> None:
    passages = chunks(" ".join(SENTENCES))
    assert len(passages) > 3
    for before, after in itertools.pairwise(passages):
        first_sentence_of_next = after.split(". ")[0] + "."
        assert first_sentence_of_next in before


def test_short_paragraphs_are_packed_together() -> None:
    assert chunks("One.\n\nTwo.\n\nThree.") == ["One. Two. Three."]


def test_text_without_spaces_is_cut_hard() -> None:
    passages = chunks("x" * 1000, size=300, overlap=0)
    assert [len(p) for p in passages] == [300, 300, 300, 100]


def test_limits() -> None:
    with pytest.raises(PayloadTooLarge) as too_large:
        chunk_text("x" * 101, size=100, overlap=10, max_chars=100)
    assert too_large.value.field == "content"
    with pytest.raises(InvalidInput):
        chunks("   \n\n  ")
