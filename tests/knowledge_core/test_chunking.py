"""Chunking: passages within the size, split on paragraphs then sentences then words, with
whole-sentence overlap, and nothing of the text lost."""

import itertools

import pytest

from knowledge_core.chunking import (
    Passage,
    chunk_document,
    chunk_sections,
    chunk_text,
    layout_of,
    sections_of,
)
from knowledge_core.errors import InvalidInput, PayloadTooLarge
from knowledge_core.extraction import Section

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


def test_a_files_layout_gives_back_its_sections_and_passages() -> None:
    """What the edge stores for a file (text and layout) is all the worker needs to cut the
    same passages, with the same places, as from the file's sections themselves."""
    sections = [
        Section("A preface\n\nwith two paragraphs.", headings=["Guide"]),
        Section("", headings=["Guide", "Empty"]),
        Section("Rotate keys.", headings=["Guide", "Keys"]),
        Section("Page text.", page=3),
    ]
    content, layout = layout_of(sections)
    assert content == "\n\n".join(s.text for s in sections)
    assert layout[0] == {"chars": len(sections[0].text), "headings": ["Guide"]}
    assert layout[3] == {"chars": len("Page text."), "page": 3}
    assert sections_of(content, layout) == sections
    assert chunk_document(content, layout, size=200, overlap=20, max_chars=10_000) == (
        chunk_sections(sections, size=200, overlap=20, max_chars=10_000)
    )


def test_a_layout_that_does_not_fit_is_plain_text() -> None:
    assert sections_of("short", [{"chars": 9}]) is None
    assert sections_of("ab\n\ncd", [{"chars": 2}, {"chars": 1}]) is None
    misfit = [{"chars": 3, "page": 1}]
    plain = chunk_document("Some text.", misfit, size=200, overlap=20, max_chars=10_000)
    assert plain == [Passage("Some text.")]
    assert chunk_document("Some text.", None, size=200, overlap=20, max_chars=10_000) == plain
