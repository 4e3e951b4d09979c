"""Split text into passages for embedding: paragraphs first, then sentences, then words, with
a little overlap so a fact on a boundary is still found whole in one passage.

The embedding worker is the one caller that chunks (`chunk_document`): every door stores text, and
a file's text with its layout (`layout_of`), which says how the text divides into the file's
sections (pages, the text under each heading); the worker cuts passages by it.
"""

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowledge_core.errors import InvalidInput, PayloadTooLarge
from knowledge_core.extraction.model import Section

_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCES = re.compile(r"(?<=[.!?])\s+(?=\S)")


def _pieces(text: str, size: int) -> Iterator[str]:
    """Units no longer than `size`: paragraphs, else their sentences, else runs of words."""
    for paragraph in _PARAGRAPHS.split(text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if len(paragraph) <= size:
            yield paragraph
            continue
        for sentence in _SENTENCES.split(paragraph):
            if len(sentence) <= size:
                yield sentence
                continue
            words: list[str] = []
            length = 0
            for word in sentence.split(" "):
                while len(word) > size:  # no spaces at all: cut hard
                    yield word[:size]
                    word = word[size:]
                if words and length + 1 + len(word) > size:
                    yield " ".join(words)
                    words, length = [], 0
                words.append(word)
                length += len(word) + (1 if length else 0)
            if words:
                yield " ".join(words)


def _pack(
    pieces: Iterable[tuple[str, int]], size: int, overlap: int
) -> list[tuple[str, list[int]]]:
    """Greedy packing of (piece, tag) units into passages of at most `size` characters, each
    with the tags of its units; consecutive passages share up to `overlap` characters of whole
    units, so context carries across the boundary."""
    chunks: list[tuple[str, list[int]]] = []
    current: list[tuple[str, int]] = []
    length = 0
    for piece, tag in pieces:
        if current and length + 1 + len(piece) > size:
            chunks.append((" ".join(u for u, _ in current), [t for _, t in current]))
            carried: list[tuple[str, int]] = []
            carried_length = 0
            for unit in reversed(current):
                if carried_length + len(unit[0]) + 1 > overlap:
                    break
                carried.insert(0, unit)
                carried_length += len(unit[0]) + 1
            # The carried units plus the new piece must still fit.
            while carried and carried_length + len(piece) > size:
                carried_length -= len(carried.pop(0)[0]) + 1
            current, length = carried, max(carried_length - 1, 0)
        current.append((piece, tag))
        length += len(piece) + (1 if length else 0)
    if current:
        chunks.append((" ".join(u for u, _ in current), [t for _, t in current]))
    return chunks


def _check(text_length: int, has_text: bool, max_chars: int) -> None:
    if text_length > max_chars:
        raise PayloadTooLarge(
            f"the document has {text_length} characters; the limit is {max_chars}", field="content"
        )
    if not has_text:
        raise InvalidInput("the document has no text", field="content")


def chunk_text(text: str, *, size: int, overlap: int, max_chars: int) -> list[str]:
    """Passages of at most `size` characters; consecutive ones share up to `overlap` characters
    of whole units (sentences or paragraphs) so context carries across the boundary."""
    _check(len(text), bool(text.strip()), max_chars)
    return [chunk for chunk, _ in _pack(((p, 0) for p in _pieces(text, size)), size, overlap)]


@dataclass
class Passage:
    """A passage and where it is in its file: `location` goes into the chunk's metadata."""

    content: str
    location: dict[str, Any] = field(default_factory=dict)


def chunk_sections(
    sections: Sequence[Section],
    *,
    size: int,
    overlap: int,
    max_chars: int,
    heading_prefix: bool = True,
) -> list[Passage]:
    """Passages of a structured file.

    Under headings (HTML, DOCX, Markdown), a passage never crosses from one section into the
    next: each carries the heading path it sits under (`headings`). Pages of a PDF are not
    sections (a paragraph runs on over the page break), so a passage may span pages and says
    which: `page` for one, `pages` [first, last] for more.
    """
    _check(sum(len(s.text) for s in sections), any(s.text.strip() for s in sections), max_chars)
    if any(s.page is not None for s in sections):
        pieces = ((p, s.page or 0) for s in sections for p in _pieces(s.text, size))
        passages = []
        for text, pages in _pack(pieces, size, overlap):
            first, last = min(pages), max(pages)
            location: dict[str, Any] = (
                {"page": first} if first == last else {"pages": [first, last]}
            )
            passages.append(Passage(text, location))
        return passages
    passages = []
    for section in sections:
        where: dict[str, Any] = {"headings": section.headings} if section.headings else {}
        # The heading path opens each passage (measured: README, "Uploads"): the section's
        # words are then in the passage for full-text search, and the reader sees its context.
        prefix = " > ".join(section.headings)[: size // 2] if heading_prefix else ""
        room = size - len(prefix) - 1 if prefix else size
        for text, _ in _pack(((p, 0) for p in _pieces(section.text, room)), room, overlap):
            passages.append(Passage(f"{prefix}\n{text}" if prefix else text, dict(where)))
    return passages


# Consecutive sections of a file's text are joined by one blank line (Extracted.text).
SECTION_SEPARATOR = "\n\n"


def layout_of(sections: Sequence[Section]) -> tuple[str, list[dict[str, Any]]]:
    """A file's text and its layout, as documents.content and documents.sections hold them:
    each section's length in characters and its page or heading path."""
    layout: list[dict[str, Any]] = []
    for section in sections:
        span: dict[str, Any] = {"chars": len(section.text)}
        if section.page is not None:
            span["page"] = section.page
        elif section.headings:
            span["headings"] = list(section.headings)
        layout.append(span)
    return SECTION_SEPARATOR.join(s.text for s in sections), layout


def sections_of(content: str, layout: Sequence[Mapping[str, Any]]) -> list[Section] | None:
    """The sections `layout` describes in `content`; None if it does not describe this text
    (the database refuses such a layout, so only a stale one can get here)."""
    sections: list[Section] = []
    start = 0
    for span in layout:
        end = start + int(span["chars"])
        if end > len(content):
            return None
        sections.append(
            Section(
                text=content[start:end],
                page=span.get("page"),
                headings=[str(h) for h in span.get("headings") or []],
            )
        )
        start = end + len(SECTION_SEPARATOR)
    return sections if start - len(SECTION_SEPARATOR) == len(content) else None


def chunk_document(
    content: str,
    layout: Sequence[Mapping[str, Any]] | None,
    *,
    size: int,
    overlap: int,
    max_chars: int,
) -> list[Passage]:
    """A document's passages: by its file's sections, each with its location, when it has a
    layout; else plain text."""
    sections = sections_of(content, layout) if layout else None
    if sections is not None:
        return chunk_sections(sections, size=size, overlap=overlap, max_chars=max_chars)
    return [
        Passage(text)
        for text in chunk_text(content, size=size, overlap=overlap, max_chars=max_chars)
    ]
