"""Markdown: the source text cut at its headings (markdown-it-py finds them, so a `#` inside a
code block is not taken for one). Passages keep the Markdown itself, as JSON ingest does."""

from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section, SectionBuilder


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

    builder = SectionBuilder()
    cursor = 0
    for start, end, level, heading in found:
        builder.add("\n".join(lines[cursor:start]))
        builder.heading(level, heading)
        cursor = end
    builder.add("\n".join(lines[cursor:]))
    sections = builder.finish()
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
