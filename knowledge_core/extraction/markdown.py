"""Markdown: the source text cut at its headings (markdown-it-py finds them, so a `#` inside a
code block is not taken for one). Passages keep the Markdown itself, as JSON ingest does."""

from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section


def extract_markdown(text: str) -> Extracted:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").parse(text)
    lines = text.splitlines()
    # (first line, last line exclusive, level, heading text) of every heading.
    found: list[tuple[int, int, int, str]] = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map is not None:
            inline = tokens[index + 1]
            found.append((token.map[0], token.map[1], int(token.tag[1]), inline.content.strip()))

    sections: list[Section] = []
    path: list[tuple[int, str]] = []

    def add(start: int, end: int) -> None:
        body = "\n".join(lines[start:end]).strip()
        if body:
            sections.append(Section(text=body, headings=[h for _, h in path]))

    cursor = 0
    for start, end, level, heading in found:
        add(cursor, start)
        path = [(lv, h) for lv, h in path if lv < level] + [(level, heading)]
        cursor = end
    add(cursor, len(lines))
    if not sections and not found:
        raise ExtractionFailed("no_text", "the file has no text")
    if not sections:  # headings only: they are the text
        sections = [Section(text="\n".join(h for *_, h in found))]
    title = next((h for _, _, level, h in found if level == 1), None)
    return Extracted(format="markdown", sections=sections, title=title)


def extract_text(text: str) -> Extracted:
    if not text.strip():
        raise ExtractionFailed("no_text", "the file has no text")
    return Extracted(format="text", sections=[Section(text=text)])
