"""What an extractor returns: sections of text, each with where it sits in the file."""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    """A run of text that chunks should not cross (a page of a PDF, the body under a heading).

    `page` is 1-based (PDF only); `headings` is the path of headings above the text, outermost
    first, e.g. ["Setup", "Keys", "Rotation"].
    """

    text: str
    page: int | None = None
    headings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "page": self.page, "headings": self.headings}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> "Section":
        return cls(
            text=str(value["text"]),
            page=value.get("page"),
            headings=[str(h) for h in value.get("headings") or []],
        )


@dataclass
class Extracted:
    """A file's text as sections, and the title the file gives itself (if any)."""

    format: str
    sections: list[Section]
    title: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


class ExtractionFailed(Exception):
    """The file cannot be turned into text; `code` names why (encrypted_pdf, zip_bomb, ...)."""

    def __init__(self, code: str, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class SectionBuilder:
    """Text gathered under the current heading path; each heading closes the text before it.

    Shared by the DOCX, HTML and Markdown extractors: a heading of level n replaces every
    heading of level n or deeper in the path, so "Setup > Keys" followed by a level-2 "Backups"
    becomes "Setup > Backups".
    """

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []
        self._lines: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self._close()
        self._path = [(lv, h) for lv, h in self._path if lv < level] + [(level, text)]

    def add(self, text: str) -> None:
        self._lines.append(text)

    def finish(self) -> list[Section]:
        self._close()
        return self.sections

    def _close(self) -> None:
        text = "\n\n".join(self._lines).strip()
        if text:
            self.sections.append(Section(text=text, headings=[h for _, h in self._path]))
        self._lines.clear()
