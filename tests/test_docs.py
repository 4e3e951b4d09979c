"""The documentation a newcomer reads: a short README that shows how to connect an agent on its
first screens, and links that lead somewhere (a file of the repository, and a heading of it when
the link names one)."""

import re
from pathlib import Path

import pytest

from local_stack.settings import REPO_ROOT

PAGES = sorted(
    [
        REPO_ROOT / "README.md",
        REPO_ROOT / "mcp" / "README.md",
        REPO_ROOT / "bench" / "README.md",
        *(REPO_ROOT / "docs").glob("*.md"),
    ]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to '-'."""
    text = heading.strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(m) for m in re.findall(r"^#+ (.+)$", page.read_text(), flags=re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_link_leads_to_a_file_and_heading_of_the_repository(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def test_the_readme_is_short_and_connects_an_agent_on_its_first_screens() -> None:
    lines = (REPO_ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    first = "\n".join(lines[:120])
    assert "claude_desktop_config.json" in first and "claude mcp add" in first


def test_every_docs_page_is_in_the_readmes_table() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [
        p.name for p in (REPO_ROOT / "docs").glob("*.md") if f"(docs/{p.name})" not in readme
    ]
    assert not missing
