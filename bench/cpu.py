"""CPU time per process around a load: on 2 shared cores every hop's CPU is everyone's latency.

Each part of the stack is a named group of processes: the gateway, PostgREST, Postgres (the
postmaster and every backend), the API, the MCP server, and the load client itself. A snapshot
reads user + system seconds of each group; for Postgres it also counts the CPU of backends that
exited since (the postmaster reaps them, so it shows as its children's time).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class CpuGroup:
    """A stack part: its main pid, and whether its children count too (Postgres backends)."""

    name: str
    pid: int
    with_children: bool = False


def _seconds(group: CpuGroup) -> float:
    try:
        process = psutil.Process(group.pid)
        times = process.cpu_times()
        total = times.user + times.system
        if group.with_children:
            total += times.children_user + times.children_system
            for child in process.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += child_times.user + child_times.system
        return float(total)
    except psutil.NoSuchProcess:
        return float("nan")


def snapshot(groups: list[CpuGroup]) -> dict[str, float]:
    return {group.name: _seconds(group) for group in groups}


def per_request_ms(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """CPU milliseconds each group spent per request between two snapshots."""
    if requests <= 0:
        return {}
    return {name: (after[name] - before[name]) * 1000.0 / requests for name in before}


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def stack_groups(pids: Mapping[str, int | None], pgdata: Path) -> list[CpuGroup]:
    """Every named part that runs, Postgres with its backends, and this process (the client)."""
    groups = [CpuGroup(name, pid) for name, pid in pids.items() if pid is not None]
    postmaster = postmaster_pid(pgdata)
    if postmaster is not None:
        groups.append(CpuGroup("postgres", postmaster, with_children=True))
    groups.append(CpuGroup("load client", os.getpid()))
    return groups
