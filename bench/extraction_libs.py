"""Which library reads files best here? Fidelity, speed, memory and licence of the candidates.

`python -m bench.extraction_libs` (after `pip install pdfminer.six pypdfium2 selectolax
trafilatura` for the candidates not in the project). Each library runs in its own child process
so its peak memory (max RSS) is its own. Documents: a PDF written with known text (exact line
recall), the PDFs found under /usr/share/doc, and pages of the Rust book (mdBook HTML: a
sidebar <nav> of every chapter, the chapter in <main>) found on the machine.
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from samples.files import make_pdf

REAL_PDFS = sorted(Path("/usr/share/doc").glob("*/*.pdf"))
BOOK = Path("/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/book")
LICENCES = {
    "pypdf": "BSD-3-Clause",
    "pdfminer.six": "MIT",
    "pypdfium2": "Apache-2.0 / BSD-3 (PDFium)",
    "lxml (ours)": "BSD-3-Clause",
    "trafilatura": "Apache-2.0",
    "selectolax": "MIT",
}

CHILD = r"""
import json, resource, sys, time
lib, paths = sys.argv[1], json.loads(sys.argv[2])
def run(path):
    data = open(path, "rb").read()
    if lib == "pypdf":
        import io, pypdf
        return "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    if lib == "pdfminer.six":
        import io
        from pdfminer.high_level import extract_text
        return extract_text(io.BytesIO(data))
    if lib == "pypdfium2":
        import pypdfium2
        doc = pypdfium2.PdfDocument(data)
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    if lib == "lxml (ours)":
        from knowledge_core.extraction.html import extract_html
        return extract_html(data).text
    if lib == "trafilatura":
        import trafilatura
        return trafilatura.extract(data.decode("utf-8", "replace"), include_comments=False) or ""
    if lib == "selectolax":
        from selectolax.lexbor import LexborHTMLParser as HTMLParser
        tree = HTMLParser(data)
        tree.strip_tags(["script", "style", "nav", "header", "footer", "aside"])
        return tree.body.text(separator=" ") if tree.body else ""
out, started = {}, time.perf_counter()
for path in paths:
    out[path] = run(path)
seconds = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"texts": out, "seconds": seconds, "peak_mb": peak_mb}))
"""


def child(lib: str, paths: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, lib, json.dumps(paths)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z'-]+", text)


def known_pdf() -> tuple[Path, list[str]]:
    lines = [[f"Line {i} on page {p}: the quick brown fox (no. {p * i}) jumps." for i in range(40)]
             for p in range(1, 21)]  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "known.pdf"
    path.write_bytes(make_pdf(lines))
    return path, [line for page in lines for line in page]


def main() -> None:
    known, known_lines = known_pdf()
    pdfs = [str(known)] + [str(p) for p in REAL_PDFS]
    row("PDF library", "licence", "known lines recovered", "real PDFs: words",
        "glued words/1k", "seconds (all)", "peak RSS MB")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for lib in ("pypdf", "pdfminer.six", "pypdfium2"):
        r = child(lib, pdfs)
        text = " ".join(r["texts"][str(known)].split())
        recall = sum(line in text for line in known_lines) / len(known_lines)
        real = [w for p in pdfs[1:] for w in words(r["texts"][p])]
        glued = sum(len(w) >= 25 for w in real) / max(len(real), 1) * 1000
        row(lib, LICENCES[lib], f"{recall:.3f}", len(real), f"{glued:.2f}",
            f"{r['seconds']:.2f}", f"{r['peak_mb']:.0f}")  # fmt: skip

    pages = sorted(BOOK.glob("ch0*.html"))[:40]
    print(f"\n{len(pages)} Rust book pages:")
    row("HTML library", "licence", "main-content sentences kept", "sidebar titles leaked",
        "headings kept", "seconds", "peak RSS MB")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    import lxml.html

    truth: dict[str, tuple[list[str], list[str]]] = {}
    for page in pages:
        root = lxml.html.parse(str(page)).getroot()
        main_text = " ".join(" ".join(p.text_content().split()) for p in root.xpath("//main//p"))
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", main_text) if len(s.split()) >= 8]
        sidebar = [
            " ".join(a.text_content().split()) for a in root.xpath("//nav[@id='sidebar']//a")
        ]
        truth[str(page)] = (sentences, [s for s in sidebar if len(s) > 25 and s not in main_text])
    for lib in ("lxml (ours)", "trafilatura", "selectolax"):
        r = child(lib, [str(p) for p in pages])
        kept = leaked = total_s = total_n = 0
        for path, (sentences, sidebar) in truth.items():
            text = " ".join(r["texts"][path].split())
            kept += sum(s in text for s in sentences)
            total_s += len(sentences)
            leaked += sum(s in text for s in sidebar)
            total_n += len(sidebar)
        headings = (
            "yes (path per section)"
            if lib == "lxml (ours)"
            else ("as Markdown text" if lib == "trafilatura" else "no")
        )
        row(lib, LICENCES[lib], f"{kept / max(total_s, 1):.3f}",
            f"{leaked / max(total_n, 1):.3f}", headings, f"{r['seconds']:.2f}",
            f"{r['peak_mb']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
