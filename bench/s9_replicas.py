"""Section 9: searches served by a read replica against the primary (issue 14).

A stack of its own with one streaming replica (ports 23421-23443, removed after), the benchmark
user's passages on the primary and replayed to the replica. The same search through the gateway:
(a) POST /rest/v1/rpc/match_documents, which the gateway sends to the primary, and (b) GET with
the compact vector text (knowledge_core.rest_query), which it sends to the replica. Each load is
a closed loop at concurrency 8; searches/s, and the CPU each process spent per search (gateway,
each PostgREST, each Postgres with its backends, the load client). Primary and replica share
this machine's cores, so a replica buys no CPU here: the figures say where the work goes, and
that a search costs the same on either server.

Also the sizes that decide whether a search fits in a URL: the query vector's text in each
encoding, and the longest request line the gateway (Caddy) and PostgREST accept (bisected with
raw requests).

And the capacity model's inputs (README "Capacity"): on the main stack, through its API, searches
of fresh text (the model embeds every query) and ingests of fresh 1,000-character documents, with
the CPU each process spent per request, the embedder and the worker included.
"""

import asyncio
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import numpy as np
import orjson
import psycopg

from bench.config import K, Profile
from bench.cpu import CpuGroup, per_request_ms, postmaster_pid, snapshot
from bench.env import StackEnv, bench_user
from bench.report import Report, Table
from bench.timing import LoadRun, closed_loop
from knowledge_core.rest_query import query_string, vector_text
from local_stack import postgrest, replicas
from local_stack.stack import LocalStack
from tests.support import EmbeddingLike, copy_chunks, second_stack_settings

CONCURRENCY = 8
MODEL = "bench-replica-model"


def _status(host: str, port: int, path: str, length: int) -> int:
    """The status of a GET whose query string is `length` characters (0: the connection reset)."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"GET {path}?q={'x' * length} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            return 0
    return int(data.split()[1]) if data.startswith(b"HTTP/") else 0


def longest_accepted(host: str, port: int, path: str) -> int:
    """Bisect the longest query string answered at all (not 414/431/400-too-long/reset)."""
    refused = {0, 400, 414, 431}
    low, high = 1_000, 4_000_000
    if _status(host, port, path, low) in refused:
        return 0
    while high - low > 16:
        middle = (low + high) // 2
        if _status(host, port, path, middle) in refused:
            high = middle
        else:
            low = middle
    return low


def url_sizes(stack: LocalStack, vector: list[float]) -> dict[str, int]:
    s = stack.settings
    return {
        "float64_json_chars": len(orjson.dumps(vector)),
        "float32_shortest_chars": len(
            orjson.dumps(np.asarray(vector, dtype=np.float32), option=orjson.OPT_SERIALIZE_NUMPY)
        ),
        "float32_trimmed_chars": len(vector_text(vector)),
        "search_query_string_chars": len(
            query_string(
                {"query_embedding": vector, "match_count": K, "filter_embedding_model": MODEL}
            )
        ),
        # PostgREST answers 401 to an anonymous call of the search: still "accepted" here.
        "gateway_longest_query": longest_accepted(s.host, s.api_port, "/rest/v1/rpc/x"),
        "postgrest_longest_query": longest_accepted(s.host, s.rest_port, "/rpc/x"),
    }


def _groups(stack: LocalStack, parts: tuple[str, ...]) -> list[CpuGroup]:
    """The named parts of the stack that run, the primary's and each replica's PostgREST and
    Postgres (with its backends), and this process (the load client)."""
    s = stack.settings
    pids: dict[str, int | None] = {name: stack.pids()[name] for name in parts}
    pids["postgrest (primary)"] = postgrest.daemon(s).pid()
    datas = {"postgres (primary)": s.pgdata}
    for replica in stack.replicas():
        pids[f"postgrest ({replica.name})"] = postgrest.daemon(s, replica.rest).pid()
        datas[f"postgres ({replica.name})"] = replica.data
    groups = [CpuGroup(name, pid) for name, pid in pids.items() if pid is not None]
    for name, data in datas.items():
        postmaster = postmaster_pid(data)
        if postmaster is not None:
            groups.append(CpuGroup(name, postmaster, with_children=True))
    groups.append(CpuGroup("load client", os.getpid()))
    return groups


async def _load(
    method: str, url: str, body: bytes | None, headers: dict[str, str], profile: Profile
) -> tuple[LoadRun, dict[str, int]]:
    served: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> None:
            async with session.request(method, url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                where = response.headers.get("x-kb-served-by", "?")
                served[where] = served.get(where, 0) + 1

        run = await closed_loop(
            call,
            concurrency=CONCURRENCY,
            requests=profile.edge_requests * 4,
            max_seconds=profile.edge_seconds * 2,
            warmup=CONCURRENCY * 2,
        )
    return run, served


@contextmanager
def lag_sampler(stack: LocalStack) -> Iterator[list[float]]:
    """The replicas' replay lag (ms, pg_stat_replication), sampled every 100 ms meanwhile."""
    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            for lag in replicas.lag(stack.settings, stack.secrets).values():
                ms = lag["replay_lag_ms"]
                samples.append(float(ms) if isinstance(ms, int | float) else 0.0)

    thread = threading.Thread(target=sample, daemon=True)
    if stack.replicas():
        thread.start()
    try:
        yield samples
    finally:
        done.set()
        if thread.is_alive():
            thread.join()


def _lag_summary(samples: list[float]) -> str:
    if not samples:
        return "no replica"
    ordered = sorted(samples)
    return f"{ordered[len(ordered) // 2]:.1f} / {ordered[-1]:.1f}"


def measure_capacity(env: StackEnv, profile: Profile, report: Report) -> dict[str, Any]:
    """CPU per request of every part, for a search (fresh text) and an ingest (1,000 chars)."""
    with bench_user(env.stack, "capacity") as user:
        token = env.stack.access_token(user)
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        groups = _groups(env.stack, ("gateway", "embedder", "api", "worker"))
        words = " ".join(f"w{i}" for i in range(150))

        def search_body() -> bytes:
            query = f"how do I configure {uuid.uuid4().hex[:8]} with {uuid.uuid4().hex[:6]}"
            return orjson.dumps({"query": query, "k": K, "mode": "semantic"})

        def ingest_body() -> bytes:
            text = (f"{uuid.uuid4().hex} {words} ")[:1000]
            return orjson.dumps({"title": "capacity", "content": text})

        figures: dict[str, Any] = {}
        table = Table(
            "Section 9b: CPU ms per request of each part, through the API (fresh text each time)",
            ["request", "per second", *(g.name for g in groups), "replay lag ms p50/max"],
            notes=["2 shared cores: ratios within this run; the worker embeds what the API stores"],
        )
        loads = (
            ("search", f"{env.kb_api_url}/v1/search", search_body, CONCURRENCY, 4),
            ("ingest 1,000 chars", f"{env.kb_api_url}/v1/documents", ingest_body, 4, 1),
        )
        for label, url, body, concurrency, scale in loads:
            report.progress(f"section 9b: {label}")

            async def run(
                url: str = url, body: Any = body, concurrency: int = concurrency, scale: int = scale
            ) -> LoadRun:
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=concurrency)
                ) as session:

                    async def call() -> None:
                        async with session.post(url, data=body(), headers=auth) as response:
                            await response.read()
                            if response.status >= 300:
                                raise RuntimeError(f"HTTP {response.status}")

                    return await closed_loop(
                        call,
                        concurrency=concurrency,
                        requests=profile.edge_requests * scale // 4,
                        max_seconds=profile.edge_seconds * 2,
                        warmup=concurrency,
                    )

            before = snapshot(groups)
            with lag_sampler(env.stack) as lags:
                loaded = asyncio.run(run())
            cpu = per_request_ms(before, snapshot(groups), len(loaded.latencies_ms))
            figures[label] = {
                "per_second": loaded.per_second,
                "errors": loaded.errors,
                "cpu_ms": cpu,
                "replay_lag_ms": lags,
            }
            table.add(
                label,
                loaded.per_second,
                *(cpu.get(g.name, float("nan")) for g in groups),
                _lag_summary(lags),
            )
        report.table(table)
    return figures


def measure_replicas(profile: Profile, report: Report) -> dict[str, Any]:
    settings = second_stack_settings("bench-replicas", 23421)
    stack = LocalStack(settings)
    stack.stop()
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    stack = LocalStack(settings)
    report.progress("section 9: starting a stack with one replica")
    stack.start(edge=False, replicas=1)
    try:
        return _measure(stack, profile, report)
    finally:
        stack.stop()
        shutil.rmtree(settings.state_dir, ignore_errors=True)


def _measure(stack: LocalStack, profile: Profile, report: Report) -> dict[str, Any]:
    user = stack.create_user("bench-replica@bench.local")
    token = stack.access_token(user)
    rng = np.random.default_rng(9)
    space = EmbeddingLike(rng)
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        row = db.execute(
            "insert into public.documents (owner_id, title, content_hash, embedding_model) "
            "values (%s, 'replica bench', encode(sha256(%s::bytea), 'hex'), %s) returning id",
            (user.id, user.id.encode(), MODEL),
        ).fetchone()
        assert row is not None
    copy_chunks(stack.db_url, str(row[0]), space.sample(profile.edge_rows))
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        db.execute("analyze public.document_chunks")
    (replica,) = stack.replicas()
    replicas.wait_for_replay(replica, stack.secrets)

    vector = [float(x) for x in space.sample(1)[0]]
    sizes = url_sizes(stack, vector)
    arguments = {"query_embedding": vector, "match_count": K, "filter_embedding_model": MODEL}
    base = f"{stack.settings.api_url}/rest/v1/rpc/match_documents"
    auth = {"apikey": stack.anon_key, "Authorization": f"Bearer {token}"}
    paths = {
        "POST (primary)": (
            "POST",
            base,
            orjson.dumps(arguments),
            {**auth, "Content-Type": "application/json"},
        ),
        "GET (replica)": ("GET", f"{base}?{query_string(arguments)}", None, auth),
    }
    groups = _groups(stack, ("gateway",))
    figures: dict[str, Any] = {"url": sizes, "concurrency": CONCURRENCY, "paths": {}}
    table = Table(
        "Section 9: one search, primary (POST) or replica (GET), through the gateway, c=8",
        ["path", "searches/s", "p50 ms", *(g.name for g in groups), "served by"],
        notes=[
            "CPU ms per search per process; primary and replica share the same 2 cores",
            f"query vector text: {sizes['float64_json_chars']} chars as float64 JSON, "
            f"{sizes['float32_shortest_chars']} shortest float32, "
            f"{sizes['float32_trimmed_chars']} trimmed; "
            f"longest query accepted: gateway {sizes['gateway_longest_query']}, "
            f"PostgREST {sizes['postgrest_longest_query']} chars",
        ],
    )
    for repeat in range(profile.repeats):
        for label, (method, url, body, headers) in paths.items():
            report.progress(f"section 9: {label}, repeat {repeat + 1}")
            before = snapshot(groups)
            run, served = asyncio.run(_load(method, url, body, headers, profile))
            cpu = per_request_ms(before, snapshot(groups), len(run.latencies_ms))
            latencies = sorted(run.latencies_ms)
            p50 = latencies[len(latencies) // 2] if latencies else float("nan")
            figures["paths"].setdefault(label, []).append(
                {
                    "per_second": run.per_second,
                    "p50_ms": p50,
                    "errors": run.errors,
                    "cpu_ms": cpu,
                    "served_by": served,
                }
            )
            table.add(
                f"{label} #{repeat + 1}",
                run.per_second,
                p50,
                *(cpu.get(g.name, float("nan")) for g in groups),
                ",".join(f"{k}:{v}" for k, v in sorted(served.items())),
            )
    report.table(table)
    stack.delete_user(user)
    return figures
