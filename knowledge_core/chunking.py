"""Split text into passages for embedding: paragraphs first, then sentences, then words, with
a little overlap so a fact on a boundary is still found whole in one passage.
"""

import re
from collections.abc import Iterator

from knowledge_core.errors import InvalidInput, PayloadTooLarge

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


def chunk_text(text: str, *, size: int, overlap: int, max_chars: int) -> list[str]:
    """Passages of at most `size` characters; consecutive ones share up to `overlap` characters
    of whole units (sentences or paragraphs) so context carries across the boundary."""
    if len(text) > max_chars:
        raise PayloadTooLarge(
            f"the document has {len(text)} characters; the limit is {max_chars}", field="content"
        )
    if not text.strip():
        raise InvalidInput("the document has no text", field="content")
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for piece in _pieces(text, size):
        if current and length + 1 + len(piece) > size:
            chunks.append(" ".join(current))
            carried: list[str] = []
            carried_length = 0
            for unit in reversed(current):
                if carried_length + len(unit) + 1 > overlap:
                    break
                carried.insert(0, unit)
                carried_length += len(unit) + 1
            # The carried units plus the new piece must still fit.
            while carried and carried_length + len(piece) > size:
                carried_length -= len(carried.pop(0)) + 1
            current, length = carried, max(carried_length - 1, 0)
        current.append(piece)
        length += len(piece) + (1 if length else 0)
    if current:
        chunks.append(" ".join(current))
    return chunks
