"""Files to sections, in process (the worker's parsing without its process): format detection by
content, each format's structure, and passages that keep to sections and carry their location."""

import pytest

from knowledge_core.chunking import chunk_sections
from knowledge_core.extraction import ExtractionFailed, Format, Section, detect_format
from knowledge_core.extraction.docx import check_zip
from knowledge_core.extraction.worker import parse
from samples.files import make_docx, make_pdf, zip_bomb_docx


@pytest.mark.parametrize(
    ("data", "name", "mime", "expected"),
    [
        (make_pdf([["x"]]), "notes.txt", "text/plain", Format.PDF),
        (make_docx([("p", "x")]), "upload.bin", None, Format.DOCX),
        (b"<!DOCTYPE html><html><body><p>x</p></body></html>", "page.txt", None, Format.HTML),
        (b"# Title\n\ntext", None, None, Format.MARKDOWN),
        (b"# Title\n\ntext", "notes.txt", None, Format.MARKDOWN),
        (b"plain words", "notes.md", None, Format.MARKDOWN),
        (b"# About\n\nUse <article> for posts.", "about.md", None, Format.MARKDOWN),
        (b"<div><article><p>A saved fragment.</p></article></div>", None, None, Format.HTML),
        (b"plain words", None, "text/markdown", Format.MARKDOWN),
        (b"Title\n=====\n\ntext", "notes.rst", None, Format.TEXT),
        ("caf\u00e9 cr\u00e8me".encode("cp1252"), "old.txt", None, Format.TEXT),
    ],
)
def test_the_format_comes_from_the_bytes(
    data: bytes, name: str | None, mime: str | None, expected: Format
) -> None:
    assert detect_format(data, name, mime) is expected


def test_unknown_binary_is_refused_by_what_it_is() -> None:
    with pytest.raises(ExtractionFailed) as png:
        detect_format(b"\x89PNG\r\n\x1a\n....", "picture.md")
    assert (png.value.status, png.value.code) == (415, "unsupported_type")
    assert "PNG" in png.value.message
    with pytest.raises(ExtractionFailed) as binary:
        detect_format(bytes(range(256)) * 4, "data.txt")
    assert binary.value.status == 415


def test_a_zip_bomb_is_caught_from_its_directory_alone() -> None:
    with pytest.raises(ExtractionFailed) as bomb:
        check_zip(zip_bomb_docx(8))
    assert bomb.value.code == "zip_bomb" and "inflates" in bomb.value.message
    check_zip(make_docx([("h1", "Fine"), ("p", "A normal document.")]))


def test_html_sections_follow_the_heading_levels() -> None:
    html = (
        b"<html><body><header>Site</header><h1>A</h1><p>one</p><h2>B</h2><ul><li>two</li></ul>"
        b"<h3>C</h3><p>three</p><h2>D</h2><p>four <script>x()</script>five</p></body></html>"
    )
    sections = parse(Format.HTML, html).sections
    assert [(s.headings, s.text) for s in sections] == [
        (["A"], "one"),
        (["A", "B"], "two"),
        (["A", "B", "C"], "three"),
        (["A", "D"], "four five"),
    ]


def test_markdown_sections_ignore_hashes_in_code() -> None:
    text = b"# Guide\n\nintro\n\n```\n# comment\n```\n\n## Use\n\nrun it\n"
    sections = parse(Format.MARKDOWN, text).sections
    assert [s.headings for s in sections] == [["Guide"], ["Guide", "Use"]]
    assert "# comment" in sections[0].text


def test_passages_never_cross_sections_and_open_with_their_heading_path() -> None:
    sections = [
        Section("Alpha sentence. " * 10, headings=["Doc", "Alpha"]),
        Section("Beta sentence. " * 10, headings=["Doc", "Beta"]),
    ]
    passages = chunk_sections(sections, size=120, overlap=30, max_chars=10_000)
    assert len(passages) > 2
    for passage in passages:
        topic = passage.location["headings"][-1]
        assert passage.content.startswith(f"Doc > {topic}\n")
        assert len(passage.content) <= 120
        other = "Beta" if topic == "Alpha" else "Alpha"
        assert f"{other} sentence" not in passage.content
    bare = chunk_sections(sections, size=120, overlap=30, max_chars=10_000, heading_prefix=False)
    assert all(not p.content.startswith("Doc >") for p in bare)


def test_pdf_passages_name_their_page_or_pages() -> None:
    pages = [Section(" ".join(f"Page {n} fact {i}." for i in range(30)), page=n) for n in (1, 2, 3)]
    passages = chunk_sections(pages, size=200, overlap=0, max_chars=10_000)
    for passage in passages:
        if "page" in passage.location:
            assert f"Page {passage.location['page']} " in passage.content
        else:
            first, last = passage.location["pages"]
            assert first < last and f"Page {first} " in passage.content
            assert f"Page {last} " in passage.content
    assert {"page": 2} in [p.location for p in passages]
