"""Which format a file is, from its bytes first and its name only to tell Markdown from text.

A name or a Content-Type header is the client's claim; the bytes are the file. So a PDF renamed
`.txt` is read as a PDF, and a PNG named `.md` is refused as a PNG.
"""

import io
import re
import zipfile
from enum import StrEnum
from pathlib import PurePath

from knowledge_core.extraction.model import ExtractionFailed


class Format(StrEnum):
    PDF = "pdf"
    DOCX = "docx"
    HTML = "html"
    MARKDOWN = "markdown"
    TEXT = "text"


# Binary formats people try to upload, named so the refusal says what was sent.
_KNOWN_BINARY: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (.doc/.xls); save it as .docx"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"{\\rtf", "an RTF file"),
)
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
_HTML_INSIDE = re.compile(rb"<(html|body|head|article|main)\b[^>]*>", re.I)
_MARKDOWN_NAMES = {".md", ".markdown", ".mdown", ".mkd"}
_MARKDOWN_TYPES = {"text/markdown", "text/x-markdown"}
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S", re.M)


def _unsupported(what: str) -> ExtractionFailed:
    return ExtractionFailed(
        "unsupported_type",
        f"the file is {what}; supported: PDF, DOCX, HTML, Markdown and plain text",
        status=415,
    )


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else with control bytes is
    binary, and the rest is read as Windows-1252, the usual encoding of old text files."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise _unsupported("binary data (invalid UTF-16)") from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    sample = data[:65536]
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in sample or controls > len(sample) // 100:
        raise _unsupported("binary data of an unknown format")
    return data.decode("cp1252", errors="replace")


def detect_format(
    data: bytes, filename: str | None = None, content_type: str | None = None
) -> Format:
    """The format of `data`; ExtractionFailed(unsupported_type, 415) when it is none we read."""
    if not data:
        raise ExtractionFailed("empty_file", "the file is empty")
    head = data[:1024]
    if b"%PDF-" in head:
        return Format.PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except (zipfile.BadZipFile, ValueError, OSError) as error:
            raise ExtractionFailed("corrupt_file", "the file is a damaged ZIP archive") from error
        if "word/document.xml" in names:
            return Format.DOCX
        if "xl/workbook.xml" in names or "ppt/presentation.xml" in names:
            raise _unsupported("an Excel or PowerPoint file")
        raise _unsupported("a ZIP archive")
    for magic, what in _KNOWN_BINARY:
        if data.startswith(magic):
            raise _unsupported(what)
    if _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
        return Format.HTML
    text = decode_text(data[:65536])  # refuses binary before the whole file is decoded
    suffix = PurePath(filename or "").suffix.lower()
    kind = (content_type or "").split(";")[0].strip().lower()
    if suffix in _MARKDOWN_NAMES or kind in _MARKDOWN_TYPES:
        return Format.MARKDOWN  # even with HTML inside: Markdown allows it
    if suffix in {".htm", ".html", ".xhtml"} or kind == "text/html":
        return Format.HTML
    if _HTML_INSIDE.search(data[:4096]):  # a fragment saved without <html>, e.g. from a CMS
        return Format.HTML
    if suffix in {"", ".txt"} and _MARKDOWN_HEADING.search(text):
        # No name, or a name that says only "text": headings like "# Setup" mean Markdown.
        return Format.MARKDOWN
    return Format.TEXT
