"""PDF: the text layer page by page (pypdf), so every passage can cite its page."""

import io
import logging

from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section


def extract_pdf(data: bytes) -> Extracted:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are about the file, not us
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are "encrypted" with an empty user password only to restrict printing:
            # anyone can read them, so can we. A real password is the author's wish: refuse.
            try:
                opened = reader.decrypt("")
            except (FileNotDecryptedError, NotImplementedError, PdfReadError) as error:
                raise _encrypted() from error
            if not opened:
                raise _encrypted()
        sections: list[Section] = []
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                sections.append(Section(text=text, page=number))
        page_count = len(reader.pages)
        title = _title(reader)
    except (ExtractionFailed, MemoryError):
        raise
    except LimitReachedError as error:  # pypdf's own guard against decompression bombs
        raise ExtractionFailed(
            "extraction_limit",
            f"the PDF is over the parser's safety limits: {error}"[:300],
            status=413,
        ) from error
    except FileNotDecryptedError as error:
        raise _encrypted() from error
    except Exception as error:  # pypdf raises many kinds on a damaged file; all mean the same
        raise ExtractionFailed(
            "corrupt_pdf", f"the PDF cannot be read (damaged or not a PDF): {error}"[:300]
        ) from error
    if not sections:
        raise ExtractionFailed(
            "no_text_layer",
            f"the PDF's {page_count} page(s) have no text layer (a scan or images only?); "
            "OCR is not supported: upload a PDF with selectable text",
        )
    return Extracted(format="pdf", sections=sections, title=title)


def _encrypted() -> ExtractionFailed:
    return ExtractionFailed(
        "encrypted_pdf", "the PDF is encrypted with a password; upload an unprotected copy"
    )


def _title(reader: object) -> str | None:
    try:
        meta = reader.metadata  # type: ignore[attr-defined]
        title = meta.title if meta is not None else None
    except Exception:  # a damaged info dictionary is no reason to refuse the text
        return None
    return title.strip() if isinstance(title, str) and title.strip() else None
