"""PDF: the text layer page by page (pypdfium2, Google's PDFium), so passages cite their page.

Chosen over pypdf and pdfminer.six by measurement (docs/benchmarks.md, "Files"): the same text on
every test document, 13x faster than pypdf and 30x faster than pdfminer.six. PDFium is C++ parsing
untrusted input; it runs only in the extraction worker, whose memory and time are capped and
whose crash is an answer (corrupt_pdf), not the API's.
"""

from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section


def extract_pdf(data: bytes) -> Extracted:
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        if "password" in str(error).lower():
            # PDFs "encrypted" with an empty user password (to restrict printing) open without
            # one and are read; a real password is the author's wish: refuse.
            raise ExtractionFailed(
                "encrypted_pdf", "the PDF is encrypted with a password; upload an unprotected copy"
            ) from error
        raise ExtractionFailed(
            "corrupt_pdf", f"the PDF cannot be read (damaged or not a PDF): {error}"[:300]
        ) from error
    try:
        sections: list[Section] = []
        page_count = len(document)
        for index in range(page_count):
            page = document[index]
            text = page.get_textpage().get_text_range().replace("\r\n", "\n").replace("\r", "\n")
            if text.strip():
                sections.append(Section(text=text, page=index + 1))
        title = (document.get_metadata_dict().get("Title") or "").strip() or None
    except pypdfium2.PdfiumError as error:
        raise ExtractionFailed(
            "corrupt_pdf", f"a page of the PDF cannot be read (damaged?): {error}"[:300]
        ) from error
    finally:
        document.close()
    if not sections:
        raise ExtractionFailed(
            "no_text_layer",
            f"the PDF's {page_count} page(s) have no text layer (a scan or images only?); "
            "OCR is not supported: upload a PDF with selectable text",
        )
    return Extracted(format="pdf", sections=sections, title=title)
