"""Run one extraction in a child process with limits on wall time, CPU and memory.

Why a process and not a thread: a thread stuck in a parser's C code cannot be stopped, and its
memory is the API's memory. A child can be killed at its deadline and its address space capped.
Starting Python costs ~0.1-0.3 s per upload, small next to embedding the file's passages.
"""

import asyncio
import json
import sys

from knowledge_core.extraction.detect import Format
from knowledge_core.extraction.model import Extracted, ExtractionFailed, Section


async def extract_file(
    data: bytes,
    kind: Format,
    *,
    timeout_seconds: float,
    memory_mb: int,
    max_chars: int,
    slots: asyncio.Semaphore | None = None,
) -> Extracted:
    """The file's sections, or ExtractionFailed naming why not (never a partial text).

    `slots` bounds how many parses run at once in this process (each may take a core and its
    memory cap); the wait for a slot is not counted in the timeout."""
    cpu_seconds = max(int(timeout_seconds), 1)
    async with slots or asyncio.Semaphore(1):
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "knowledge_core.extraction.worker",
            kind.value,
            str(memory_mb),
            str(cpu_seconds),
            str(max_chars),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            out, _ = await asyncio.wait_for(child.communicate(data), timeout_seconds)
        except TimeoutError as error:
            child.kill()
            await child.wait()
            raise ExtractionFailed(
                "extraction_timeout",
                f"reading the {kind.value.upper()} took longer than {timeout_seconds:g} s; "
                "the file is too complex or malformed",
            ) from error
        except BaseException:
            if child.returncode is None:
                child.kill()
                await child.wait()
            raise
    try:
        answer = json.loads(out)
    except ValueError as error:
        # No answer: killed at its CPU limit, or its memory cap broke the parser (PDFium aborts
        # when an allocation fails): either way the file asked for more than it may have.
        raise _limit(kind, memory_mb, cpu_seconds) from error
    if not answer["ok"]:
        if answer["code"] == "extraction_limit":
            raise _limit(kind, memory_mb, cpu_seconds)
        raise ExtractionFailed(answer["code"], answer["message"], status=answer["status"])
    return Extracted(
        format=answer["format"],
        title=answer["title"],
        sections=[Section.from_json(s) for s in answer["sections"]],
    )


def _limit(kind: Format, memory_mb: int, cpu_seconds: int) -> ExtractionFailed:
    return ExtractionFailed(
        "extraction_limit",
        f"reading the {kind.value.upper()} needed more than {memory_mb} MB of memory or "
        f"{cpu_seconds} s of CPU, or broke the parser; the file is too large or malformed",
        status=413,
    )
