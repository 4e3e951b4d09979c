"""DOCX: paragraphs and tables in reading order under their headings (python-docx).

A DOCX is a ZIP archive, and a ZIP can declare kilobytes that inflate to gigabytes. The archive's
directory is checked before anything is inflated: entry count, declared sizes and ratios.
"""

import io
import zipfile

from knowledge_core.extraction.model import Extracted, ExtractionFailed, SectionBuilder

MAX_ENTRIES = 2_000
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024  # all entries, as declared in the ZIP directory
MAX_RATIO = 200  # inflated / compressed, for entries over 1 MiB inflated
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def check_zip(data: bytes) -> None:
    """Refuse an archive whose directory declares more than we will inflate."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise ExtractionFailed("corrupt_docx", "the DOCX is a damaged ZIP archive") from error
    if len(entries) > MAX_ENTRIES:
        raise _bomb(f"it holds {len(entries)} files (the limit is {MAX_ENTRIES})")
    total = sum(entry.file_size for entry in entries)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise _bomb(f"it declares {total} bytes uncompressed (limit {MAX_UNCOMPRESSED_BYTES})")
    for entry in entries:
        if entry.file_size > 1024 * 1024 and entry.file_size > MAX_RATIO * max(
            entry.compress_size, 1
        ):
            raise _bomb(
                f"{entry.filename} inflates {entry.file_size // max(entry.compress_size, 1)}x "
                f"(the limit is {MAX_RATIO}x)"
            )


def _bomb(why: str) -> ExtractionFailed:
    return ExtractionFailed("zip_bomb", f"the DOCX looks like a ZIP bomb: {why}", status=413)


def extract_docx(data: bytes) -> Extracted:
    check_zip(data)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
        body = document.element.body
        builder = SectionBuilder()

        for child in body.iterchildren():
            if child.tag == f"{_W}p":
                paragraph = Paragraph(child, document)
                text = paragraph.text.strip()
                level = _heading_level(paragraph)
                if level is not None and text:
                    builder.heading(level, text)
                elif text:
                    builder.add(text)
            elif child.tag == f"{_W}tbl":
                for row in Table(child, document).rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                    if cells:
                        builder.add(" | ".join(cells))
        sections = builder.finish()
        title = (document.core_properties.title or "").strip() or None
    except (ExtractionFailed, MemoryError):
        raise
    except Exception as error:  # python-docx and lxml raise many kinds on a damaged file
        raise ExtractionFailed(
            "corrupt_docx", f"the DOCX cannot be read (damaged?): {error}"[:300]
        ) from error
    if not sections:
        raise ExtractionFailed("no_text", "the DOCX has no text")
    first_heading = next((s.headings[0] for s in sections if s.headings), None)
    return Extracted(format="docx", sections=sections, title=title or first_heading)


def _heading_level(paragraph: object) -> int | None:
    """Word's built-in styles: "Title" is level 0, "Heading 1".."Heading 9" their level."""
    try:
        name = (paragraph.style.name or "").strip()  # type: ignore[attr-defined]
    except Exception:
        return None
    if name == "Title":
        return 0
    if name.startswith("Heading "):
        suffix = name.removeprefix("Heading ").strip()
        if suffix.isdigit():
            return int(suffix)
    return None
