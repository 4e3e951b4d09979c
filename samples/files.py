"""Small real files made on the spot: PDFs written by hand (text layer, pages, encryption by
pypdf), DOCX by python-docx, HTML and Markdown as text, and the hostile ones (ZIP bombs, damaged
PDFs, scans without text)."""

import io
import zipfile

import docx
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A PDF with one Helvetica text line per string, page by page. An empty page list draws
    only a rectangle: a page with no text layer, like a scan."""
    objects: list[bytes] = []
    page_ids: list[int] = []
    font_id = 3
    next_id = 4
    bodies: list[tuple[int, bytes]] = []
    for lines in pages:
        if lines:
            ops = ["BT", "/F1 11 Tf", "14 TL", "72 740 Td"]
            ops += [f"({_escape(line)}) '" for line in lines]
            ops.append("ET")
        else:
            ops = ["0.5 g", "72 72 400 600 re f"]
        stream = "\n".join(ops).encode("latin-1")
        content_id, page_id = next_id, next_id + 1
        next_id += 2
        bodies.append(
            (content_id, b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        )
        bodies.append(
            (
                page_id,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                b"/Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>"
                % (font_id, content_id),
            )
        )
        page_ids.append(page_id)
    kids = " ".join(f"{i} 0 R" for i in page_ids).encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids)),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    by_id = dict(enumerate(objects, start=1)) | dict(bodies)
    info_id = None
    if title is not None:
        info_id = next_id
        by_id[info_id] = b"<< /Title (%s) >>" % _escape(title).encode("latin-1")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(by_id):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + by_id[number] + b"\nendobj\n")
    xref = out.tell()
    count = max(by_id) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for number in range(1, count):
        out.write(b"%010d 00000 n \n" % offsets[number])
    info = b" /Info %d 0 R" % info_id if info_id else b""
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (count, info, xref)
    )
    return out.getvalue()


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def flate_bomb_pdf(inflated_mib: int = 60) -> bytes:
    """A one-page PDF whose content stream is ~100 KB compressed and `inflated_mib` inflated."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["A tiny page."]]))))
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 11 Tf 72 700 Td (hi) Tj ET\n" + b"0 0 m\n" * (inflated_mib * 174763))
    writer.pages[0][NameObject("/Contents")] = writer._add_object(stream.flate_encode(level=9))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(blocks: list[tuple[str, str]], *, table: list[list[str]] | None = None) -> bytes:
    """blocks: (style, text), style "h1".."h3" for headings, "p" for a paragraph."""
    document = docx.Document()
    for style, text in blocks:
        if style.startswith("h"):
            document.add_heading(text, level=int(style[1:]))
        else:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb_docx(inflated_mib: int = 64) -> bytes:
    """A DOCX-shaped ZIP whose one extra entry inflates ~1000x: zeros compress to nothing."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/media/blank.bin", b"\0" * (inflated_mib * 1024 * 1024))
    return out.getvalue()


def xlsx_like() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
    return out.getvalue()


def many_entries_docx(entries: int = 2500) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for i in range(entries):
            archive.writestr(f"word/parts/{i}.xml", "")
    return out.getvalue()
