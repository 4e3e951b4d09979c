"""HTML: the main content (lxml), without navigation, scripts or boilerplate, under its headings.

A saved page is mostly chrome: menus, cookie banners, footers. Content is taken from <main> or
<article> when the page has one, else <body>, with the elements that are never content removed.
"""

import re

from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section, SectionBuilder

# Never content: code, styling, navigation and page chrome.
_DROP = (
    "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
    "nav", "header", "footer", "aside", "form", "button", "select", "menu", "dialog",
)  # fmt: skip
_DROP_ROLES = ("navigation", "banner", "contentinfo", "complementary", "search", "menu")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = {
    "p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption",
    "address", "summary",
}  # fmt: skip
_CONTAINERS = {"div", "section", "main", "article", "body", "center", "span"}
_SPACE = re.compile(r"[ \t\r\f\v]+")


def extract_html(data: bytes) -> Extracted:
    import lxml.etree
    import lxml.html

    try:
        root = lxml.html.document_fromstring(data)
    except (lxml.etree.ParserError, ValueError) as error:
        raise ExtractionFailed("corrupt_html", f"the HTML cannot be parsed: {error}") from error
    title_element = root.find(".//title")
    title = _clean(title_element.text_content()) if title_element is not None else ""
    for element in root.xpath("//comment() | //processing-instruction()"):
        _remove(element)
    drops = " | ".join(f"//{tag}" for tag in _DROP)
    roles = " or ".join(f"@role='{role}'" for role in _DROP_ROLES)
    for element in root.xpath(f"{drops} | //*[{roles}] | //*[@hidden] | //*[@aria-hidden='true']"):
        _remove(element)
    main = root.xpath("//main | //article | //*[@role='main']")
    content = main[0] if main else (root.find("body") if root.find("body") is not None else root)

    builder = SectionBuilder()

    for element in content.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag in _HEADINGS:
            heading = _clean(element.text_content())
            if not heading:
                continue
            builder.heading(_HEADINGS[tag], heading)
        elif tag in _BLOCKS and not _inside_block(element):
            text = _clean(element.text_content()) if tag != "pre" else element.text_content()
            if text.strip():
                builder.add(text.strip())
        elif tag in _CONTAINERS and not _inside_block(element):
            loose = _clean(" ".join([element.text or "", *(c.tail or "" for c in element)]))
            if loose:  # text written straight into a <div>, outside any paragraph
                builder.add(loose)
    sections = builder.finish()
    if not sections:
        # No block elements at all (a page of bare text in <body>): take its text whole.
        text = _clean(content.text_content())
        if text:
            sections.append(Section(text=text))
    if not sections:
        raise ExtractionFailed("no_text", "the HTML page has no text content")
    first_h1 = next((s.headings[0] for s in sections if s.headings), None)
    return Extracted(format="html", sections=sections, title=title or first_h1)


def _inside_block(element: object) -> bool:
    """A <p> inside an <li> is read with its <li>; reading it again would repeat it."""
    parent = element.getparent()  # type: ignore[attr-defined]
    while parent is not None:
        if isinstance(parent.tag, str) and parent.tag in _BLOCKS:
            return True
        parent = parent.getparent()
    return False


def _remove(element: object) -> None:
    """Drop an element but keep the text that follows it (lxml stores it on the element)."""
    parent = element.getparent()  # type: ignore[attr-defined]
    if parent is None:
        return
    tail = element.tail  # type: ignore[attr-defined]
    if tail:
        previous = element.getprevious()  # type: ignore[attr-defined]
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _clean(text: str) -> str:
    return " ".join(_SPACE.sub(" ", text).split())
