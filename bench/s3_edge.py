"""Section 3: what the edge adds to a search, compared with calling PostgREST directly.

The same query embedding goes (a) straight to PostgREST's `/rpc/match_documents` with the user's
JWT, (a') the same through the gateway (`/rest/v1`, the hop the edge itself takes), (b) through
the API's `/v1/search`, (c) through the MCP server's search tool over streamable HTTP. The API
and MCP embed the query text themselves: one untimed call first puts that text in their LRU
cache of query embeddings, so the timed calls compare HTTP paths, not model calls. Every path
searches the same rows with the same arguments (the ones the edge sends), as the same user.

Load: closed loops at concurrency 1, 8 and 32 from aiohttp (a light client: its own CPU is
reported too). Client, servers and Postgres share this machine's cores, so latencies are compared
as ratios to path (a) measured in the same repeat, and every load also reads the CPU time each
process spent (gateway, PostgREST, Postgres, API, MCP, load client): per request, that is what
each hop costs whatever else the machine is doing.
"""

import asyncio
import contextlib
import importlib.util
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psycopg

from bench.config import BENCH_EMBEDDER, CONCURRENCY, K, Profile
from bench.corpus import Corpus
from bench.cpu import CpuGroup, per_request_ms, snapshot, stack_groups
from bench.env import StackEnv
from bench.processes import EdgeProcess, edge_process, free_port, http_ok
from bench.report import Report, Table, fmt_spread
from bench.stats import Repeated, ratio_spread, repeated
from bench.timing import LoadRun, closed_loop
from bench.vectors import copy_chunks
from knowledge_core.embeddings.base import LOCAL_MODEL as MODEL_NAME
from knowledge_core.embeddings.local import LocalEmbedder
from local_stack.users import User

QUERY = "how do I read a configuration file with sections and defaults"
Call = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class HttpTarget:
    key: str
    label: str
    url: str
    body: bytes
    headers: dict[str, str]


def seed_rows(env: StackEnv, user: User, corpus: Corpus, embeddings: np.ndarray, n: int) -> None:
    """The user's passages in the main database (deleted with the user at the end)."""
    n = min(n, len(embeddings))
    with psycopg.connect(env.db_url, autocommit=True) as db:
        row = db.execute(
            """insert into public.documents (owner_id, title, content_hash, embedding_model)
               values (%s, 'benchmark passages', encode(sha256(%s::bytea), 'hex'), %s)
               returning id""",
            (user.id, user.id.encode(), MODEL_NAME),
        ).fetchone()
        assert row is not None
        copy_chunks(
            db, [str(row[0])], np.zeros(n, dtype=np.int64), corpus.passages[:n], embeddings[:n]
        )
        db.execute("analyze public.document_chunks")


def query_vector() -> list[float]:
    async def run() -> list[float]:
        embedder = LocalEmbedder(BENCH_EMBEDDER)
        try:
            return (await embedder.embed([QUERY]))[0]
        finally:
            await embedder.aclose()

    return asyncio.run(run())


def http_targets(env: StackEnv, token: str, vector: list[float]) -> list[HttpTarget]:
    # Exactly what knowledge_core's CallerKnowledge.search sends for a semantic search.
    rpc = json.dumps(
        {
            "query_embedding": vector,
            "match_count": K,
            "filter": {},
            "filter_category": None,
            "filter_workspace_id": None,
            "filter_embedding_model": MODEL_NAME,
            "match_threshold": None,
        }
    ).encode()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return [
        HttpTarget(
            "rpc",
            "(a) PostgREST /rpc/match_documents",
            f"{env.postgrest_url}/rpc/match_documents",
            rpc,
            auth,
        ),
        HttpTarget(
            "gateway",
            "(a') gateway /rest/v1/rpc/match_documents",
            f"{env.api_url}/rest/v1/rpc/match_documents",
            rpc,
            {**auth, "apikey": env.anon_key},
        ),
        HttpTarget(
            "api",
            "(b) API /v1/search",
            f"{env.kb_api_url}/v1/search",
            json.dumps({"query": QUERY, "k": K, "mode": "semantic"}).encode(),
            auth,
        ),
    ]


def count_rows(key: str, payload: Any) -> int:
    """Rows of one answer of an HTTP path."""
    if key in ("rpc", "gateway"):
        return len(payload)
    return len(payload["results"])


# -- MCP ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def mcp_endpoint(env: StackEnv, out_dir: Path) -> Iterator[tuple[str, int | None]]:
    """The stack's MCP server if it runs, else one of our own; its URL and process id."""
    status = env.stack.status_env()
    url = status.get("KB_MCP_URL")
    if url and http_ok(url.removesuffix("/mcp") + "/health/ready"):
        yield url, env.stack.pids()["mcp"]  # the stack's own MCP server, as the API is
        return
    if importlib.util.find_spec("knowledge_mcp.__main__") is None:
        raise RuntimeError("knowledge_mcp has no server (no knowledge_mcp.__main__)")
    port = free_port()
    with edge_process(
        ["knowledge_mcp", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        port=port,
        env={**env.edge_environment(), "LOG_LEVEL": "WARNING"},
        ready_path="/health/ready",
        log_file=out_dir / "logs" / "mcp.log",
    ) as process:
        yield f"{process.url}/mcp", process.pid


def mcp_floor(out_dir: Path) -> AbstractContextManager[EdgeProcess]:
    """bench/mcp_floor.py: the SDK's own cost per call, beside the real server's."""
    port = free_port()
    return edge_process(
        ["bench.mcp_floor", "--port", str(port)],
        port=port,
        env={},
        ready_path="/health/ready",
        log_file=out_dir / "logs" / "mcp_floor.log",
    )


class McpPool:
    """One MCP client session per concurrent caller, as separate agents would hold."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.stack = contextlib.AsyncExitStack()
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        self.tool = ""
        self.arguments: dict[str, Any] = {}

    async def open(self, sessions: int) -> int:
        """Open the sessions, find the search tool; returns the rows of one test call."""
        import httpx2
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        for _ in range(sessions):
            client = await self.stack.enter_async_context(
                create_mcp_http_client(
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=httpx2.Timeout(60.0),
                )
            )
            read, write = await self.stack.enter_async_context(
                streamable_http_client(self.url, http_client=client)
            )
            session = await self.stack.enter_async_context(ClientSession(read, write))
            await session.initialize()
            self.idle.put_nowait(session)
        session = self.idle.get_nowait()
        tools = (await session.list_tools()).tools
        search = next((t for t in tools if "search" in t.name), None)
        if search is None:
            raise RuntimeError(f"no search tool among {[t.name for t in tools]}")
        properties = search.input_schema.get("properties", {})
        self.tool = search.name
        self.arguments = {"query": QUERY}
        for name in ("limit", "k", "match_count"):
            if name in properties:
                self.arguments[name] = K
                break
        if "mode" in properties:
            self.arguments["mode"] = "semantic"
        result = await session.call_tool(self.tool, self.arguments)
        self.idle.put_nowait(session)
        if result.is_error:
            raise RuntimeError(f"{self.tool} answered an error: {result.content}")
        structured = result.structured_content or {}
        return len(structured.get("results", []))

    async def call(self) -> None:
        session = await self.idle.get()
        try:
            result = await session.call_tool(self.tool, self.arguments)
        finally:
            self.idle.put_nowait(session)
        if result.is_error:
            raise RuntimeError(f"{self.tool} answered an error")

    async def aclose(self) -> None:
        await self.stack.aclose()


# -- load ----------------------------------------------------------------------------------------


async def _aiohttp_load(target: HttpTarget, concurrency: int, profile: Profile) -> LoadRun:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def call() -> None:
            async with session.post(target.url, data=target.body, headers=target.headers) as r:
                payload = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}: {payload[:200]!r}")

        return await _loop(call, concurrency, profile)


async def _loop(call: Call, concurrency: int, profile: Profile) -> LoadRun:
    return await closed_loop(
        call,
        concurrency=concurrency,
        requests=max(profile.edge_requests, 4 * concurrency),
        max_seconds=profile.edge_seconds,
        warmup=2 * concurrency,
    )


Load = Callable[[int], Awaitable[LoadRun]]


def _bind(
    load: Callable[[HttpTarget, int, Profile], Awaitable[LoadRun]],
    target: HttpTarget,
    profile: Profile,
) -> Load:
    """A load at a given concurrency against one target."""

    def at(concurrency: int) -> Awaitable[LoadRun]:
        return load(target, concurrency, profile)

    return at


async def _check(targets: list[HttpTarget]) -> dict[str, int]:
    """One untimed call per path: fills the edge's query cache, and shows each returns k rows."""
    rows = {}
    async with aiohttp.ClientSession() as session:
        for t in targets:
            async with session.post(t.url, data=t.body, headers=t.headers) as r:
                payload = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"{t.label}: HTTP {r.status}: {payload}")
                rows[t.key] = count_rows(t.key, payload)
    return rows


@dataclass(frozen=True)
class Measured:
    """One load, and the CPU milliseconds each process spent per request during it."""

    run: LoadRun
    cpu_ms: dict[str, float]


async def _measured(load: Load, concurrency: int, groups: list[CpuGroup]) -> Measured:
    before = snapshot(groups)
    run = await load(concurrency)
    after = snapshot(groups)
    # Warm-up calls (see _loop) ran inside the window too.
    requests = len(run.latencies_ms) + run.errors + 2 * concurrency
    return Measured(run, per_request_ms(before, after, requests))


def _mcp_load(pool: McpPool, profile: Profile) -> Load:
    async def at(concurrency: int) -> LoadRun:
        return await _loop(pool.call, concurrency, profile)

    return at


async def _run_loads(
    targets: list[HttpTarget],
    mcp_urls: dict[str, str],
    token: str,
    profile: Profile,
    report: Report,
    groups: list[CpuGroup],
) -> dict[str, Any]:
    """Every path at every concurrency, `repeats` times; `mcp_urls` maps a path key to a server."""
    rows = await _check(targets)
    paths: list[tuple[str, str, Load]] = [
        (t.key, "aiohttp", _bind(_aiohttp_load, t, profile)) for t in targets
    ]
    pools: list[McpPool] = []
    mcp_note: str | None = None
    for key, url in mcp_urls.items():
        pool = McpPool(url, token)
        try:
            rows[key] = await pool.open(max(CONCURRENCY))
        except Exception as error:  # any failure: report that server as not available, go on
            mcp_note = f"{key}: {type(error).__name__}: {error}"[:300]
            await pool.aclose()
            continue
        pools.append(pool)
        paths.append((key, "mcp sdk", _mcp_load(pool, profile)))
    samples: dict[tuple[str, str, int], list[Measured]] = {}
    try:
        for r in range(profile.repeats):
            for c in CONCURRENCY:
                order = paths[r % len(paths) :] + paths[: r % len(paths)]
                for key, client, load in order:
                    report.progress(f"edge: repeat {r + 1}, concurrency {c}, {key} via {client}")
                    measured = await _measured(load, c, groups)
                    samples.setdefault((key, client, c), []).append(measured)
    finally:
        # Last opened, first closed: anyio's cancel scopes of the sessions nest in that order.
        for pool in reversed(pools):
            await pool.aclose()
    return {"rows": rows, "samples": samples, "mcp_note": mcp_note}


def measure_edge(
    env: StackEnv,
    user: User,
    token: str,
    corpus: Corpus,
    embeddings: np.ndarray,
    profile: Profile,
    report: Report,
) -> dict[str, Any]:
    report.progress(f"edge: {profile.edge_rows:,} passages for the benchmark user")
    seed_rows(env, user, corpus, embeddings, profile.edge_rows)
    targets = http_targets(env, token, query_vector())
    labels = {t.key: t.label for t in targets}
    labels["mcp"] = "(c) MCP tool over streamable HTTP"
    labels["mcp_floor"] = "(c0) MCP SDK alone: a tool that does nothing"
    with ExitStack() as stack:
        mcp_url: str | None = None
        mcp_pid: int | None = None
        mcp_note: str | None = None
        try:
            mcp_url, mcp_pid = stack.enter_context(mcp_endpoint(env, report.out_dir))
        except Exception as error:  # not there yet, or cannot start: say so, do not fail
            mcp_note = f"{type(error).__name__}: {error}"[:300]
        floor = stack.enter_context(mcp_floor(report.out_dir))
        pids = {**env.stack.pids(), "mcp": mcp_pid, "mcp floor": floor.pid}
        groups = stack_groups(pids, env.stack.settings.pgdata)
        mcp_urls = {"mcp": mcp_url} if mcp_url is not None else {}
        mcp_urls["mcp_floor"] = f"{floor.url}/mcp"
        loads = asyncio.run(_run_loads(targets, mcp_urls, token, profile, report, groups))
    mcp_note = mcp_note or loads["mcp_note"]
    figures: dict[str, Any] = {"rows_returned": loads["rows"], "mcp": None, "paths": {}}
    if mcp_url is not None:
        whose = "the stack's" if mcp_url == env.stack.status_env().get("KB_MCP_URL") else "ours"
        figures["mcp_server"] = f"{mcp_url} ({whose})"
    samples: dict[tuple[str, str, int], list[Measured]] = loads["samples"]
    for (key, client, c), measured in samples.items():
        runs = [m.run for m in measured]
        base = [m.run for m in samples[("rpc", "aiohttp", c)]]
        latency = repeated([r.latencies_ms for r in runs], [r.per_second for r in runs])
        entry = figures["paths"].setdefault(
            f"{key}/{client}", {"label": labels[key], "client": client, "levels": {}}
        )
        entry["levels"][c] = {
            "latency": latency,
            "errors": sum(r.errors for r in runs),
            "first_error": next((r.first_error for r in runs if r.first_error), None),
            "p50_vs_rpc": ratio_spread([_p50(r) for r in runs], [_p50(b) for b in base]),
            "throughput_vs_rpc": ratio_spread(
                [r.per_second for r in runs], [b.per_second for b in base]
            ),
            # Median over repeats of each process's CPU ms per request.
            "cpu_ms": {
                name: float(np.median([m.cpu_ms[name] for m in measured]))
                for name in measured[0].cpu_ms
            },
        }
    figures["mcp"] = (
        "available" if "mcp/mcp sdk" in figures["paths"] else f"not available: {mcp_note}"
    )
    _print(report, figures)
    return figures


def _p50(run: LoadRun) -> float:
    return repeated([run.latencies_ms], [run.per_second]).pooled.p50


def _print(report: Report, figures: dict[str, Any]) -> None:
    table = Table(
        "3. The edge's overhead: the same search by each path (ratios to (a) in the same repeat)",
        [
            "path",
            "client",
            "conc.",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "req/s",
            "p50 vs (a)",
            "req/s vs (a)",
            "errors",
        ],
    )
    for c in CONCURRENCY:
        for entry in figures["paths"].values():
            level = entry["levels"].get(c)
            if level is None:
                continue
            latency: Repeated = level["latency"]
            table.add(
                entry["label"],
                entry["client"],
                c,
                fmt_spread(latency.p50),
                fmt_spread(latency.p95),
                fmt_spread(latency.p99),
                fmt_spread(latency.rate, 0),
                fmt_spread(level["p50_vs_rpc"]),
                fmt_spread(level["throughput_vs_rpc"]),
                level["errors"],
            )
    table.notes += [
        "ratios use (a) via aiohttp as the base; median [min-max] over repeats",
        "the API and MCP embed the query text: one untimed call first fills their LRU cache of "
        "query embeddings with this exact query, so the timed calls measure the HTTP path only",
        f"rows returned per call: {figures['rows_returned']}",
        "load generator, edge, PostgREST and Postgres share the same cores: absolute req/s are "
        "this machine's, ratios are the figure to compare",
    ]
    for entry in figures["paths"].values():
        for c, level in entry["levels"].items():
            if level["errors"]:
                table.notes.append(
                    f"errors of {entry['label']} [{entry['client']}] at concurrency {c}: "
                    f"{level['errors']}, the first: {level['first_error']}"
                )
    if figures["mcp"] != "available":
        table.notes.append(f"MCP: {figures['mcp']}")
    else:
        table.notes.append(
            f"MCP server: {figures['mcp_server']}; one client session per concurrent caller; "
            "the SDK validates each result against the tool's output schema, as agents' clients do"
        )
    report.table(table)
    _print_cpu(report, figures)
    if figures["mcp"] != "available":
        report.say("MCP: not available")


CPU_PARTS = ("gateway", "postgrest", "postgres", "api", "mcp", "mcp floor", "load client")


def _print_cpu(report: Report, figures: dict[str, Any]) -> None:
    table = Table(
        "3b. CPU milliseconds per request, by process (median over repeats)",
        ["path", "conc.", *CPU_PARTS, "all"],
    )
    for c in CONCURRENCY:
        for entry in figures["paths"].values():
            level = entry["levels"].get(c)
            if level is None:
                continue
            cpu: dict[str, float] = level["cpu_ms"]
            table.add(
                entry["label"],
                c,
                *(f"{cpu[part]:.2f}" if part in cpu else "-" for part in CPU_PARTS),
                f"{sum(cpu.values()):.2f}",
            )
    table.notes += [
        "user + system CPU time of each process over the load (warm-up included), divided by the "
        "requests it served; Postgres counts its postmaster and every backend",
        "a process that is not on a path still shows what it spent meanwhile (idle: about 0)",
        "(c0) is the MCP SDK's stateless streamable HTTP with a tool that does nothing "
        "(bench/mcp_floor.py): what any tool call costs before our code runs",
    ]
    report.table(table)
