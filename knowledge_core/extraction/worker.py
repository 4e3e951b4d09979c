"""The child process that parses one file: `python -m knowledge_core.extraction.worker FORMAT
MEMORY_MB CPU_SECONDS MAX_CHARS`, the file on stdin, one JSON object on stdout.

Limits are set on itself before any parser is imported: address space (a bomb that inflates hits
MemoryError) and CPU seconds (a parser in a loop gets SIGXCPU, then SIGKILL). The parent adds a
wall-clock timeout and kills the child at it, so a stalled parse costs one process, not the API.
"""

import json
import resource
import sys
from typing import Any

from knowledge_core.extraction.detect import Format, decode_text
from knowledge_core.extraction.model import Extracted, ExtractionFailed


def parse(kind: Format, data: bytes) -> Extracted:
    if kind is Format.PDF:
        from knowledge_core.extraction.pdf import extract_pdf

        return extract_pdf(data)
    if kind is Format.DOCX:
        from knowledge_core.extraction.docx import extract_docx

        return extract_docx(data)
    if kind is Format.HTML:
        from knowledge_core.extraction.html import extract_html

        return extract_html(data)
    from knowledge_core.extraction.markdown import extract_markdown, extract_text

    text = decode_text(data)
    return extract_markdown(text) if kind is Format.MARKDOWN else extract_text(text)


def run(kind: Format, data: bytes, max_chars: int) -> dict[str, Any]:
    try:
        extracted = parse(kind, data)
    except ExtractionFailed as failure:
        return {
            "ok": False,
            "code": failure.code,
            "message": failure.message,
            "status": failure.status,
        }
    except MemoryError:
        return {"ok": False, "code": "extraction_limit", "message": "", "status": 413}
    chars = sum(len(s.text) for s in extracted.sections)
    if chars > max_chars:
        return {
            "ok": False,
            "code": "payload_too_large",
            "message": f"the file's text has {chars} characters; the limit is {max_chars}",
            "status": 413,
        }
    return {
        "ok": True,
        "format": extracted.format,
        "title": extracted.title,
        "sections": [s.as_json() for s in extracted.sections],
    }


def main() -> None:
    kind, memory_mb, cpu_seconds, max_chars = (
        Format(sys.argv[1]),
        int(sys.argv[2]),
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    data = sys.stdin.buffer.read()
    sys.stdout.write(json.dumps(run(kind, data, max_chars), ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
